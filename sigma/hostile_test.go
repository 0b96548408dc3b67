//go:build unix

package sigma_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/sigma"
)

const goodRule = `title: Good
id: 5b0b5d38-1111-4a4a-9c9c-000000000001
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\cmd.exe'}
  condition: sel
`

// loadWithin runs LoadPaths, failing the test when it does not return in
// time (a named pipe used to block it forever).
func loadWithin(t *testing.T, d time.Duration, paths ...string) (*sigma.Collection, sigma.ErrorList) {
	t.Helper()
	type result struct {
		c    *sigma.Collection
		errs sigma.ErrorList
	}
	done := make(chan result, 1)
	go func() {
		c, errs := sigma.LoadPaths(paths...)
		done <- result{c, errs}
	}()
	select {
	case r := <-done:
		return r.c, r.errs
	case <-time.After(d):
		t.Fatalf("LoadPaths(%v) did not return in %v", paths, d)
		return nil, nil
	}
}

// TestHostileRulesFolder: a rules folder (a cloned repository) holding a
// named pipe and links to endless devices loads its real rules, in
// bounded time and memory, and names each file it skipped.
func TestHostileRulesFolder(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("named pipes and /dev are Unix")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yml"), []byte(goodRule), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(filepath.Join(dir, "z.yml"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"zero.yml": "/dev/zero", "urandom.yaml": "/dev/urandom", "loop.yml": dir} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c, errs := loadWithin(t, 20*time.Second, dir)
	runtime.ReadMemStats(&after)
	if len(errs) != 0 || len(c.Rules) != 1 {
		t.Fatalf("%d rules, errors %v; want the one good rule", len(c.Rules), errs)
	}
	var warns []string
	for _, w := range c.Warnings {
		warns = append(warns, w.Error())
	}
	got := strings.Join(warns, "\n")
	for _, want := range []string{"loop.yml: rule file skipped: a link to a folder", "urandom.yaml: rule file skipped: a device",
		"z.yml: rule file skipped: a named pipe", "zero.yml: rule file skipped: a device"} {
		if !strings.Contains(got, filepath.Join(dir, want)) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("loading allocated %d MiB", grew>>20)
	}
}

// TestRuleFromDevice: a device named as a rule file is read up to the
// size limit, never further, and refused.
func TestRuleFromDevice(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, errs := sigma.ParseFile("/dev/zero")
	runtime.ReadMemStats(&after)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "more than the 4194304-byte limit") {
		t.Fatalf("ParseFile(/dev/zero) = %v", errs)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4*sigma.MaxFileSize {
		t.Errorf("reading /dev/zero allocated %d MiB", grew>>20)
	}
}

// TestTimespanRange: timespans past time.Duration's range are refused
// with the largest accepted, never wrapped around to a short window.
func TestTimespanRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"106751d", 106751 * 24 * time.Hour, ""},
		{"292y", 292 * 365 * 24 * time.Hour, ""},
		{"213504d", 0, `timespan "213504d" is longer than the longest supported, 106751d`},
		{"293y", 0, "longer than the longest supported, 292y"},
		{"9223372036854775807s", 0, "longer than the longest supported, 9223372036s"},
		{"99999999999999999999999h", 0, "longer than the longest supported"},
		{"0m", 0, "it must be longer than 0"},
	} {
		got, err := sigma.ParseTimespan(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseTimespan(%q) = %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
	// In a correlation, the error is positioned on the value.
	rule := goodRule + "---\ntitle: Corr\ncorrelation:\n  type: event_count\n  rules: [Good]\n  timespan: 213504d\n  condition: {gte: 2}\n"
	_, errs := sigma.Parse("c.yml", []byte(rule))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `c.yml:12:13: timespan "213504d" is longer than the longest supported`) {
		t.Errorf("errors %v", errs)
	}
}
