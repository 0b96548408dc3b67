package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/alert"
)

// TestReadmeCommand runs the main command of README.md,
//
//	go run ./cmd/vigil hunt testdata/example/events.jsonl
//
// and checks that the built-in advisory fires on the bundled example: one
// alert per advisory correlation for the winword -> cmd /c update.bat ->
// 185.199.110.153 sequence, none for cmd /K -> 10.20.0.15.
func TestReadmeCommand(t *testing.T) {
	t.Chdir("..")
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"hunt", "testdata/example/events.jsonl"}, Env{Stdout: &out, Stderr: &errb})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	titles := map[string]*alert.Alert{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var a alert.Alert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if a.Rule.Type != "correlation" || a.Advisory != "VIGIL-2026-0001" {
			t.Errorf("unexpected alert %s (%s)", a.Rule.Title, a.Rule.Type)
		}
		titles[a.Rule.Title] = &a
	}
	for _, want := range []string{
		"Detect Command Prompt Connecting to Internet with Script Execution",
		"Detect Command Prompt Network Connection from Office Application",
	} {
		a := titles[want]
		if a == nil {
			t.Errorf("no alert %q in:\n%s", want, out.String())
			continue
		}
		if a.Context["process_guid"] != "{6C1B9A20-4E3D-6405-2B01-000000000F00}" || a.Group["ProcessId"] != "7212" || len(a.Events) != 2 ||
			a.Events[0].Source.Line != 2 || a.Events[1].Source.Line != 3 {
			t.Errorf("%s: group %v, events %+v", want, a.Group, a.Events)
		}
		dest, _ := a.Context["destination"].(map[string]any)
		if dest["ip"] != "185.199.110.153" || !strings.Contains(a.Context["parent_image"].(string), "WINWORD.EXE") {
			t.Errorf("%s: context %v", want, a.Context)
		}
		if anc, _ := a.Context["ancestry"].([]any); len(anc) != 1 {
			t.Errorf("%s: ancestry %v, want the winword start", want, a.Context["ancestry"])
		}
	}
	if len(titles) != 2 {
		t.Errorf("%d distinct alerts, want 2", len(titles))
	}
	if !strings.Contains(errb.String(), "0 evicted") {
		t.Errorf("summary lacks the correlation counters:\n%s", errb.String())
	}
}

func TestAdvisoryCommands(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"advisory", "list"}, Env{Stdout: &out, Stderr: &errb}); code != ExitOK {
		t.Fatalf("list: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "VIGIL-2026-0001  low       Suspicious Command Prompt Network Connection") {
		t.Errorf("list:\n%s", out.String())
	}
	out.Reset()
	if code := Main(context.Background(), []string{"advisory", "show", "vigil-2026-0001"}, Env{Stdout: &out, Stderr: &errb}); code != ExitOK {
		t.Fatalf("show: exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"Severity: low", "Attack chain:", "Recommendations:", "Triage an alert:",
		"Detect Command Prompt Connecting to Internet with Script Execution", "temporal_ordered", "within 15s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, out.String())
		}
	}
	if code := Main(context.Background(), []string{"advisory", "show", "nope"}, Env{Stdout: &out, Stderr: &errb}); code != ExitUsage {
		t.Errorf("show nope: exit %d, want %d", code, ExitUsage)
	}
}

// TestReadmeOutput checks that the output shown in README.md's quick start
// is what the main command prints on a 200-column terminal without colour
// (timings aside).
func TestReadmeOutput(t *testing.T) {
	t.Chdir("..")
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "<!-- readme-output: checked by TestReadmeOutput in cli/readme_test.go -->\n```text\n")
	if !ok {
		t.Fatal("README.md lacks the readme-output block")
	}
	block, _, _ = strings.Cut(block, "```")
	var out, errb bytes.Buffer
	env := Env{
		Stdout: &out, Stderr: &errb,
		Getenv:   func(k string) string { return map[string]string{"NO_COLOR": "1"}[k] },
		Terminal: func(w io.Writer) (bool, int) { return w == io.Writer(&out), 200 },
	}
	if code := Main(context.Background(), []string{"hunt", "testdata/example/events.jsonl"}, env); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	timing := regexp.MustCompile(`read in \S+ \(\d+ events/s\)`)
	norm := func(s string) string { return timing.ReplaceAllString(s, "read in T (N events/s)") }
	if got, want := norm(out.String()+errb.String()), norm(block); got != want {
		t.Errorf("README.md shows:\n%s\nthe command prints:\n%s", want, got)
	}
}
