package hunt

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestGlobFold: the Windows glob compares names without case, keeps the
// names as they are on disk, expands patterns in folders too, and
// reports bad patterns as filepath.Glob does. It runs on every system;
// on Windows the patterns start with a drive letter.
func TestGlobFold(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"Security.EVTX", "application.evtx", "notes.txt", filepath.Join("Sub", "System.Evtx"), filepath.Join("other", "x.json")} {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("ElfFile\x00"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{filepath.Join(dir, "*.evtx"), []string{filepath.Join(dir, "Security.EVTX"), filepath.Join(dir, "application.evtx")}},
		{filepath.Join(dir, "*.EVTX"), []string{filepath.Join(dir, "Security.EVTX"), filepath.Join(dir, "application.evtx")}},
		{filepath.Join(dir, "s*"), []string{filepath.Join(dir, "Security.EVTX"), filepath.Join(dir, "Sub")}},
		{filepath.Join(dir, "*", "*.evtx"), []string{filepath.Join(dir, "Sub", "System.Evtx")}},
		{filepath.Join(dir, "[sS]ub", "system.?vtx"), []string{filepath.Join(dir, "Sub", "System.Evtx")}},
		{filepath.Join(dir, "*.csv"), nil},
		{filepath.Join(dir, "missing", "*.evtx"), nil},
		{filepath.Join(dir, "notes.txt"), []string{filepath.Join(dir, "notes.txt")}},
	} {
		got, err := globFold(tc.pattern)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("globFold(%q) = %q, %v; want %q", tc.pattern, got, err, tc.want)
		}
	}
	if _, err := globFold(filepath.Join(dir, "[")); err != filepath.ErrBadPattern {
		t.Errorf("globFold of a bad pattern: %v, want %v", err, filepath.ErrBadPattern)
	}
	// Relative patterns stay relative.
	t.Chdir(dir)
	if got, err := globFold("*.EvTx"); err != nil || !reflect.DeepEqual(got, []string{"Security.EVTX", "application.evtx"}) {
		t.Errorf("relative: %q, %v", got, err)
	}
}

// TestGlobFoldUnreadable: a folder that cannot be listed is an error
// naming it (on Windows, with what to do: run elevated), not "no file
// matches"; a missing folder still matches nothing.
func TestGlobFoldUnreadable(t *testing.T) {
	denied := &fs.PathError{Op: "open", Path: "Logs", Err: fs.ErrPermission}
	readDir := func(d string) ([]os.DirEntry, error) {
		if filepath.Base(d) == "Logs" {
			return nil, denied
		}
		return nil, &fs.PathError{Op: "open", Path: d, Err: fs.ErrNotExist}
	}
	if got, err := globFoldIn(filepath.Join("winevt", "Logs", "*.evtx"), readDir); err != denied || got != nil {
		t.Errorf("unreadable folder: %q, %v; want the permission error", got, err)
	}
	if got, err := globFoldIn(filepath.Join("winevt", "Missing", "*.evtx"), readDir); err != nil || got != nil {
		t.Errorf("missing folder: %q, %v; want no match and no error", got, err)
	}
}
