package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestHuntFleet: vigil hunt over a folder of one mixed fleet
// (testdata/fleet): the advisory fires on the Sysmon host, the Security
// host, and the host whose process start is in a Sysmon file and whose
// connection is in a Security 5156 file; the summary ends naming the two
// hosts on which it was blind.
func TestHuntFleet(t *testing.T) {
	t.Chdir("..")
	code, out, errs := runMain(t, "hunt", "-f", "jsonl", "--workers", "2", "testdata/fleet")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	byHost := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var a struct {
			Host   string `json:"host"`
			Events []struct {
				Source struct {
					Path string `json:"path"`
				} `json:"source"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		byHost[a.Host]++
		if a.Host == "WS-MIXED.corp.example" {
			files := map[string]bool{}
			for _, e := range a.Events {
				files[e.Source.Path] = true
			}
			if !files["testdata/fleet/ws-mixed-sysmon.jsonl"] || !files["testdata/fleet/ws-mixed-security.jsonl"] {
				t.Errorf("WS-MIXED alert events from %v, want both files", files)
			}
		}
	}
	for _, h := range []string{"WS-SYSMON.corp.example", "WS-SECURITY.corp.example", "WS-MIXED.corp.example"} {
		if byHost[h] != 2 {
			t.Errorf("%s: %d alerts, want 2 (one per rule)", h, byHost[h])
		}
	}
	if len(byHost) != 3 {
		t.Errorf("alerts by host %v, want 3 hosts", byHost)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "vigil: blind: the loaded rules could not fire on 2 hosts") ||
		!strings.Contains(last, "WS-NOCMDLINE.corp.example (no command lines in Security 4688") ||
		!strings.Contains(last, "WS-NONET.corp.example (no network connection events") {
		t.Errorf("last summary line %q, want the blind hosts", last)
	}
}

// TestCoverageCommand: vigil coverage's JSON over the fleet, and the
// verdicts of the example rules given with --rules.
func TestCoverageCommand(t *testing.T) {
	t.Chdir("..")
	code, out, errs := runMain(t, "coverage", "--workers", "2", "-r", "testdata/example/rules", "testdata/fleet")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Hosts []struct {
			Host     string `json:"host"`
			Advisory string `json:"advisory"`
			Missing  []struct {
				Missing, Remedy string
			} `json:"missing"`
			Rules struct {
				Covered, Partial, Blind int
				List                    []struct{ ID, Status string }
			} `json:"rules"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := map[string]string{}
	for _, h := range rep.Hosts {
		got[h.Host] = h.Advisory
		if n := h.Rules.Covered + h.Rules.Partial + h.Rules.Blind; n == 0 || n != len(h.Rules.List) {
			t.Errorf("%s: rules %+v", h.Host, h.Rules)
		}
		if h.Advisory != "covered" && (len(h.Missing) == 0 || h.Missing[0].Remedy == "") {
			t.Errorf("%s: %s without reasons", h.Host, h.Advisory)
		}
	}
	want := map[string]string{"WS-SYSMON.corp.example": "covered", "WS-SECURITY.corp.example": "covered", "WS-MIXED.corp.example": "covered",
		"WS-NOCMDLINE.corp.example": "blind", "WS-NONET.corp.example": "blind"}
	for h, w := range want {
		if got[h] != w {
			t.Errorf("%s: advisory %q, want %q", h, got[h], w)
		}
	}
	if code, _, _ := runMain(t, "coverage", "--format", "xml", "testdata/fleet"); code != ExitUsage {
		t.Errorf("--format xml: exit %d, want %d", code, ExitUsage)
	}
	if code, _, _ := runMain(t, "coverage", "missing-dir"); code != ExitFailure {
		t.Errorf("no input: exit %d, want %d", code, ExitFailure)
	}
}
