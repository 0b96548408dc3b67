package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// failingWriter accepts n bytes, then fails every write.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		w.n = 0
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

// TestDumpOrderAndWriteError checks that the parallel dump prints events in
// input order (line numbers ascending, file after file) and stops with exit
// 1 when its output cannot be written.
func TestDumpOrderAndWriteError(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for f := range 3 {
		var b strings.Builder
		for i := range 2000 {
			fmt.Fprintf(&b, "{\"EventID\":%d,\"Image\":\"C:\\\\x%d.exe\",\"File\":%d}\n", i, i, f)
		}
		p := filepath.Join(dir, fmt.Sprintf("f%d.jsonl", f))
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"dump", "--workers", "3"}, files...), Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		var m struct {
			File   int `json:"File"`
			Source struct {
				Line int `json:"line"`
			} `json:"source"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m.File != n/2000 || m.Source.Line != n%2000+1 {
			t.Fatalf("event %d: file %d line %d, want file %d line %d", n, m.File, m.Source.Line, n/2000, n%2000+1)
		}
		n++
	}
	if n != 6000 {
		t.Fatalf("%d events, want 6000", n)
	}
	errb.Reset()
	code = Main(context.Background(), append([]string{"dump", "--quiet"}, files...), Env{Stdin: strings.NewReader(""), Stdout: &failingWriter{n: 100 << 10}, Stderr: &errb})
	if code != ExitFailure || !strings.Contains(errb.String(), "disk full") {
		t.Fatalf("exit %d, stderr %q; want %d and the write error", code, errb.String(), ExitFailure)
	}
}
