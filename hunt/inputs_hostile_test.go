//go:build unix

package hunt

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExpandInputsSpecialFiles: a named pipe given as an argument is
// listed without being opened (opening waits for a writer); in a folder,
// pipes and links to folders are skipped with the reason, links to files
// followed, and a file reached several ways is listed once.
func TestExpandInputsSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "real/a.jsonl", "{}\n")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir("logs", 0o755))
	must(syscall.Mkfifo("pipe", 0o600))
	must(syscall.Mkfifo("logs/p.jsonl", 0o600))
	must(os.Symlink("../real/a.jsonl", "logs/link.jsonl"))
	must(os.Symlink("../real", "logs/dirlink"))
	must(os.Symlink("real", "reallink"))

	done := make(chan *Expansion, 1)
	go func() { done <- ExpandInputs([]string{"pipe", "logs", "real", "reallink", "real/../real/a.jsonl"}) }()
	var x *Expansion
	select {
	case x = <-done:
	case <-time.After(10 * time.Second):
		// Release a goroutine stuck opening a pipe, then fail.
		for _, p := range []string{"pipe", "logs/p.jsonl"} {
			if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
		t.Fatal("ExpandInputs opened a named pipe")
	}
	want := []string{"pipe", filepath.Join("logs", "link.jsonl")}
	if got := x.Paths(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("paths %q, want %q", got, want)
	}
	var skipped []string
	for _, p := range x.Skipped {
		skipped = append(skipped, p.Error())
	}
	got := strings.Join(skipped, "\n")
	for _, w := range []string{"dirlink: symbolic link to a folder in a folder, not read", "p.jsonl: named pipe in a folder, not read"} {
		if !strings.Contains(got, w) {
			t.Errorf("skipped lacks %q:\n%s", w, got)
		}
	}
	if in, ok := x.Holds("reallink/a.jsonl"); !ok || in != want[1] {
		t.Errorf("Holds(reallink/a.jsonl) = %q, %v", in, ok)
	}
	if _, ok := x.Holds("real"); ok {
		t.Errorf("a folder is not an input")
	}
}
