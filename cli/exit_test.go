package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

// TestExitCodes covers each exit code of vigil hunt (docs/cli.md).
func TestExitCodes(t *testing.T) {
	t.Chdir("..")
	ex := "testdata/example/events.jsonl"
	for _, tc := range []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"ok with alerts", []string{"hunt", ex}, ExitOK, "alerts: 2"},
		{"ok without alerts", []string{"hunt", "--min-level", "critical", ex}, ExitOK, "alerts: none"},
		{"fail-on below the alerts", []string{"hunt", "--fail-on", "high", ex}, ExitOK, ""},
		{"fail-on fired", []string{"hunt", "--fail-on", "medium", ex}, ExitAlerts, "--fail-on medium: 2 alerts at or above medium"},
		{"fail-on informational", []string{"hunt", "-q", "--fail-on", "info", ex}, ExitAlerts, "2 alerts"},
		{"no readable input", []string{"hunt", "testdata/nope.evtx"}, ExitFailure, "no input to read"},
		{"unwritable output", []string{"hunt", "-o", "testdata/no/such/dir/out.jsonl", ex}, ExitFailure, "no such file"},
		{"strict rules", []string{"hunt", "--strict-rules", "-r", "cli/testdata/badrules", "-r", "testdata/example/rules", ex}, ExitFailure, "--strict-rules"},
		{"no rule selected", []string{"hunt", "--tags", "attack.t9999", "-r", "testdata/example/rules", ex}, ExitFailure, "no rule loaded"},
		{"no argument", []string{"hunt"}, ExitUsage, "requires at least 1 arg"},
		{"unknown flag", []string{"hunt", "--bogus", ex}, ExitUsage, "unknown flag"},
		{"bad format", []string{"hunt", "-f", "xml", ex}, ExitUsage, "unknown --format"},
		{"bad level", []string{"hunt", "--min-level", "severe", ex}, ExitUsage, "--min-level"},
		{"bad fail-on", []string{"hunt", "--fail-on", "severe", ex}, ExitUsage, "--fail-on"},
		{"bad status", []string{"hunt", "--status", "!old", ex}, ExitUsage, "--status"},
		{"bad timezone", []string{"hunt", "--timezone", "Mars/Olympus", ex}, ExitUsage, "--timezone"},
		{"bad time", []string{"hunt", "--from", "yesterday", ex}, ExitUsage, "--from"},
		{"to before from", []string{"hunt", "--from", "2026-03-05", "--to", "2026-03-04", ex}, ExitUsage, "before --from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tc.args...)
			if code != tc.want {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.want, stderr)
			}
			if !strings.Contains(stderr, tc.msg) {
				t.Errorf("stderr lacks %q:\n%s", tc.msg, stderr)
			}
		})
	}
}

// TestRuleFailuresReported: a rule that fails to load is named, with the
// reason, on standard error and in the JSON summary; the others run.
func TestRuleFailuresReported(t *testing.T) {
	t.Chdir("..")
	sum := filepath.Join(t.TempDir(), "summary.json")
	code, out, stderr := runMain(t, "hunt", "-r", "cli/testdata/badrules", "-r", "testdata/example/rules", "--summary-json", sum, "testdata/example")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Count(out, "\n") != 2 {
		t.Errorf("want the 2 alerts of the example rules, got:\n%s", out)
	}
	for _, want := range []string{"rules: 2 loaded, 1 failed", "rule error: cli/testdata/badrules/bad.yml:", `undefined search identifier "nope"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	var s huntSummary
	data, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Rules.Loaded != 2 || s.Rules.Failed != 1 || len(s.Rules.Failures) == 0 || !strings.Contains(s.Rules.Failures[0], "bad.yml") {
		t.Errorf("summary rules %+v", s.Rules)
	}
	if s.Alerts.Total != 2 || s.Alerts.ByLevel["medium"] != 1 || s.Alerts.ByLevel["low"] != 1 || s.Files.Read != 1 || s.Events.Read != 6 {
		t.Errorf("summary %+v", s)
	}
	if len(s.Alerts.TopHosts) != 1 || s.Alerts.TopHosts[0].Host != "FIN-WS-042.corp.example" {
		t.Errorf("top hosts %+v", s.Alerts.TopHosts)
	}
}

// TestSelection covers --min-level, --status, --tags and --exclude-rule
// on the example rules (medium experimental t1059.003; low experimental
// t1071).
func TestSelection(t *testing.T) {
	t.Chdir("..")
	for _, tc := range []struct {
		args []string
		want []string // rule titles, in order
	}{
		{nil, []string{"Command Prompt Started by an Office Application", "Command Prompt Connecting to a Public Address"}},
		{[]string{"--min-level", "medium"}, []string{"Command Prompt Started by an Office Application"}},
		{[]string{"--status", "!experimental"}, nil},
		{[]string{"--status", "stable,experimental"}, []string{"Command Prompt Started by an Office Application", "Command Prompt Connecting to a Public Address"}},
		{[]string{"--tags", "attack.t1071"}, []string{"Command Prompt Connecting to a Public Address"}},
		{[]string{"--tags", "attack.t1059"}, []string{"Command Prompt Started by an Office Application"}},
		{[]string{"--exclude-rule", "3f2a9c61-5b0e-4d7a-9a43-1c7e8b2d4f10"}, []string{"Command Prompt Connecting to a Public Address"}},
	} {
		args := append([]string{"hunt", "-q", "-f", "jsonl", "-r", "testdata/example/rules"}, tc.args...)
		code, out, stderr := runMain(t, append(args, "testdata/example/events.jsonl")...)
		if len(tc.want) == 0 {
			if code != ExitFailure || !strings.Contains(stderr, "no rule loaded") {
				t.Errorf("%v: exit %d, %s", tc.args, code, stderr)
			}
			continue
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var a struct{ Rule struct{ Title string } }
			if err := json.Unmarshal([]byte(l), &a); err != nil {
				t.Fatalf("%v: %v: %q", tc.args, err, l)
			}
			got = append(got, a.Rule.Title)
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%v: got %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestSelectionKeepsCorrelatedRules: with --min-level medium the advisory
// correlations (medium) still see their low-level detection rules, whose
// own alerts stay hidden.
func TestSelectionKeepsCorrelatedRules(t *testing.T) {
	t.Chdir("..")
	code, out, stderr := runMain(t, "hunt", "-f", "jsonl", "--min-level", "medium", "testdata/example/events.jsonl")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(out, `"type":"correlation"`); n != 2 || strings.Count(out, "\n") != 2 {
		t.Errorf("want the 2 advisory correlation alerts, got:\n%s", out)
	}
}

// TestTimezone: --timezone moves table and CSV times, not JSON ones.
func TestTimezone(t *testing.T) {
	t.Chdir("..")
	args := []string{"hunt", "-q", "-r", "testdata/example/rules", "--timezone", "Asia/Tokyo", "testdata/example/events.jsonl"}
	_, csvOut, _ := runMain(t, append(args, "-f", "csv")...)
	if !strings.Contains(csvOut, "\n2026-03-04 18:15:09.481 +09:00,") {
		t.Errorf("csv:\n%s", csvOut)
	}
	_, table, _ := runMain(t, append(args, "-f", "table")...)
	if !strings.Contains(table, "2026-03-04 18:15:09.481+09:00") {
		t.Errorf("table:\n%s", table)
	}
	_, jsonl, _ := runMain(t, append(args, "-f", "jsonl")...)
	if !strings.Contains(jsonl, `"timestamp":"2026-03-04T09:15:09.481Z"`) {
		t.Errorf("jsonl:\n%s", jsonl)
	}
	// --from dates are read in --timezone: 2026-03-04 18:15:10 in Tokyo
	// is after the first alert (09:15:09.481Z) and before the second.
	_, jsonl, _ = runMain(t, append(args, "-f", "jsonl", "--from", "2026-03-04T18:15:10+09:00")...)
	if strings.Count(jsonl, "\n") != 1 {
		t.Errorf("--from: %s", jsonl)
	}
}

// TestInputsMixed: a folder, a glob vigil expands, "-" and a missing file
// in one run; the missing one is reported and skipped.
func TestInputsMixed(t *testing.T) {
	t.Chdir("..")
	data, err := os.ReadFile("testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"hunt", "-f", "jsonl", "-r", "testdata/example/rules", "testdata/example", "testdata/example/*.jsonl", "-", "missing.evtx"},
		Env{Stdin: bytes.NewReader(data), Stdout: &out, Stderr: &errb})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 4 {
		t.Errorf("%d alerts, want 4 (the example file once, standard input once)", n)
	}
	for _, want := range []string{"files: 2 read", "1 unreadable", "unreadable: missing.evtx: no such file or directory"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

// TestBrokenInputSkipped: an EVTX file whose header is cut short is
// reported as unreadable, counted, and the other inputs are hunted.
func TestBrokenInputSkipped(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.evtx")
	if err := os.WriteFile(broken, []byte("ElfFile\x00short"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := filepath.Join(dir, "summary.json")
	t.Chdir("..")
	code, out, stderr := runMain(t, "hunt", "-f", "jsonl", "--summary-json", sum, broken, "testdata/example/events.jsonl")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Count(out, "\n") != 2 {
		t.Errorf("alerts:\n%s", out)
	}
	if !strings.Contains(stderr, "files: 1 read") || !strings.Contains(stderr, "1 unreadable") || !strings.Contains(stderr, "unreadable: "+broken) {
		t.Errorf("stderr:\n%s", stderr)
	}
	data, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	var s huntSummary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Files.Unreadable) != 1 || s.Files.Unreadable[0].Path != broken || s.Files.Read != 1 {
		t.Errorf("summary files %+v", s.Files)
	}
}

// TestFormatFromOutput: without --format, the --output extension picks
// the format; standard output that is not a terminal gets jsonl.
func TestFormatFromOutput(t *testing.T) {
	t.Chdir("..")
	dir := t.TempDir()
	for ext, prefix := range map[string]string{".csv": "Timestamp,Computer,", ".json": "[\n{", ".jsonl": `{"rule":`, ".txt": "TIME ", ".out": `{"rule":`, ".html": "<!DOCTYPE html>", ".HTM": "<!DOCTYPE html>"} {
		out := filepath.Join(dir, "alerts"+ext)
		if code, _, stderr := runMain(t, "hunt", "-q", "-o", out, "testdata/example/events.jsonl"); code != ExitOK {
			t.Fatalf("%s: exit %d: %s", ext, code, stderr)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), prefix) {
			t.Errorf("%s starts with %.40q, want %q", ext, data, prefix)
		}
	}
	if _, stdout, _ := runMain(t, "hunt", "-q", "testdata/example/events.jsonl"); !strings.HasPrefix(stdout, `{"rule":`) {
		t.Errorf("piped stdout: %.60q", stdout)
	}
}

// TestHTMLSummaryCounts: the report's process-tree context rules are
// vigil's, not the user's: the summary counts the same rules and alerts
// with --format html as with jsonl.
func TestHTMLSummaryCounts(t *testing.T) {
	t.Chdir("..")
	dir := t.TempDir()
	var sums [2]huntSummary
	for i, out := range []string{"alerts.jsonl", "report.html"} {
		sj := filepath.Join(dir, out+".summary.json")
		if code, _, stderr := runMain(t, "hunt", "-q", "-o", filepath.Join(dir, out), "--summary-json", sj, "testdata/example/events.jsonl"); code != ExitOK {
			t.Fatalf("%s: exit %d: %s", out, code, stderr)
		}
		data, err := os.ReadFile(sj)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &sums[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(sums[0].Rules, sums[1].Rules) || sums[0].Alerts.Total != sums[1].Alerts.Total || sums[1].Alerts.Total == 0 {
		t.Errorf("jsonl summary %+v %d alerts, html %+v %d alerts", sums[0].Rules, sums[0].Alerts.Total, sums[1].Rules, sums[1].Alerts.Total)
	}
}
