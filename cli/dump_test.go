package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestDump prints each event of the mapped shapes with its normalized
// fields and source location.
func TestDump(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"dump", "testdata/shapes.jsonl"}, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var lines []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d events, want 3", len(lines))
	}
	if got := lines[0]["ProcessId"]; got != "6700" {
		t.Errorf("4688 ProcessId = %v, want 6700", got)
	}
	if got := lines[1]["DestinationIp"]; got != "8.8.8.8" {
		t.Errorf("5156 DestinationIp = %v", got)
	}
	src, _ := lines[2]["source"].(map[string]any)
	if src["line"] != float64(3) || src["path"] != "testdata/shapes.jsonl" {
		t.Errorf("source = %v", src)
	}
	if lines[0]["timestamp"] != "2026-03-04T09:15:09Z" {
		t.Errorf("timestamp = %v", lines[0]["timestamp"])
	}
	if !strings.Contains(errb.String(), "3 events, 0 unreadable") {
		t.Errorf("summary: %q", errb.String())
	}
}
