package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/buildinfo"
)

// TestVersion: vigil version, --version and version --json print the
// build information; --summary-json carries it.
func TestVersion(t *testing.T) {
	want := buildinfo.Get()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, stderr := runMain(t, args...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		for _, s := range []string{"vigil " + want.Version + "\n", "go:         " + want.GoVersion, "advisories: " + want.Advisories.Version + " (" + want.Advisories.Digest + ")", "mapping:    " + want.Mapping.Version} {
			if !strings.Contains(out, s) {
				t.Errorf("%v: output lacks %q:\n%s", args, s, out)
			}
		}
	}
	code, out, _ := runMain(t, "version", "--json")
	var got buildinfo.Info
	if err := json.Unmarshal([]byte(out), &got); code != ExitOK || err != nil || got != want {
		t.Errorf("version --json: exit %d, %v: %+v, want %+v", code, err, got, want)
	}
	if code, _, _ := runMain(t, "version", "extra"); code != ExitUsage {
		t.Errorf("version extra: exit %d, want %d", code, ExitUsage)
	}

	t.Chdir("..")
	sum := filepath.Join(t.TempDir(), "summary.json")
	if code, _, stderr := runMain(t, "hunt", "--summary-json", sum, "testdata/example/events.jsonl"); code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Build buildinfo.Info `json:"build"`
	}
	if err := json.Unmarshal(data, &s); err != nil || s.Build != want {
		t.Errorf("summary build %+v (%v), want %+v", s.Build, err, want)
	}
}
