//go:build windows

package hunt

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// holdLikeEventLog opens path as the event log service holds a live log:
// for reading, writing and deletion, sharing all three.
func holdLikeEventLog(t *testing.T, path string) {
	t.Helper()
	const deleteAccess = 0x00010000 // DELETE
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE|deleteAccess,
		syscall.FILE_SHARE_READ|syscall.FILE_SHARE_WRITE|syscall.FILE_SHARE_DELETE, nil, syscall.OPEN_EXISTING, syscall.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.CloseHandle(h) })
}

// TestOpenInputSharesWithEventLog: a file held as the event log service
// holds a live log cannot be opened with os.Open (no delete sharing) but
// is read by vigil hunt's open, and is listed as an input.
func TestOpenInputSharesWithEventLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Security.evtx")
	want := []byte("ElfFile\x00 live log")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	holdLikeEventLog(t, path)
	if f, err := os.Open(path); err == nil {
		f.Close()
		t.Fatal("os.Open shared a file held with delete access: the test does not reproduce the event log service")
	} else if !errors.Is(err, errorSharingViolation) {
		t.Fatalf("os.Open: %v, want a sharing violation", err)
	}
	f, err := openInput(path)
	if err != nil {
		t.Fatalf("openInput: %v", err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(got) != string(want) {
		t.Fatalf("read %q, %v", got, err)
	}
	x := ExpandInputs([]string{path, filepath.Join(dir, "*.EVTX"), dir})
	if len(x.Skipped) != 0 || len(x.Inputs) != 1 || x.Inputs[0].Size != int64(len(want)) {
		t.Errorf("ExpandInputs: inputs %+v, skipped %+v", x.Inputs, x.Skipped)
	}
}

func TestOpenErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  syscall.Errno
		want string
	}{
		{syscall.ERROR_ACCESS_DENIED, "Run as administrator"},
		{syscall.ERROR_PRIVILEGE_NOT_HELD, "Run as administrator"},
		{errorSharingViolation, "does not share it"},
	} {
		err := openError(tc.err)
		if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.err) {
			t.Errorf("openError(%v) = %v, want %q wrapping the code", tc.err, err, tc.want)
		}
	}
	if err := openError(syscall.ERROR_FILE_NOT_FOUND); err != syscall.ERROR_FILE_NOT_FOUND {
		t.Errorf("other errors pass through: %v", err)
	}
}

// TestWindowsPaths: drive-letter paths and globs (the temporary folder is
// on a drive), a UNC path to the same file through the administrative
// share where the machine offers it, and a path beyond 260 characters.
func TestWindowsPaths(t *testing.T) {
	dir := t.TempDir()
	if filepath.VolumeName(dir) == "" || !strings.HasSuffix(filepath.VolumeName(dir), ":") {
		t.Fatalf("temporary folder %q has no drive letter", dir)
	}
	path := filepath.Join(dir, "Application.EVTX")
	if err := os.WriteFile(path, []byte("ElfFile\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := ExpandInputs([]string{filepath.Join(dir, "*.evtx")})
	if len(x.Inputs) != 1 || x.Inputs[0].Path != path || len(x.Skipped) != 0 {
		t.Errorf("drive-letter glob: %+v %+v", x.Inputs, x.Skipped)
	}
	unc := `\\localhost\` + strings.TrimSuffix(filepath.VolumeName(dir), ":") + `$` + path[len(filepath.VolumeName(dir)):]
	if _, err := os.Stat(unc); err != nil {
		t.Logf("administrative share not reachable (%v); UNC paths not tested", err)
	} else {
		x := ExpandInputs([]string{unc, filepath.Join(filepath.Dir(unc), "*.Evtx")})
		if len(x.Inputs) != 1 || len(x.Skipped) != 0 {
			t.Errorf("UNC: %+v %+v", x.Inputs, x.Skipped)
		}
		if f, err := openInput(unc); err != nil {
			t.Errorf("openInput(%s): %v", unc, err)
		} else {
			f.Close()
		}
	}
	long := dir
	for len(long) < 300 {
		long = filepath.Join(long, strings.Repeat("d", 40))
	}
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	lp := filepath.Join(long, "System.evtx")
	if err := os.WriteFile(lp, []byte("ElfFile\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := openInput(lp); err != nil {
		t.Errorf("openInput of a %d-character path: %v", len(lp), err)
	} else {
		f.Close()
	}
	if got := longPath(`\\server\share\` + strings.Repeat("x", 260)); !strings.HasPrefix(got, `\\?\UNC\server\share\`) {
		t.Errorf("longPath of a long UNC path: %q", got)
	}
}

// TestGlobInputsDenied: a glob over a folder the user may not list says
// so, with what to do, instead of "no file matches". C:\System Volume
// Information is closed even to administrators on a default install.
func TestGlobInputsDenied(t *testing.T) {
	dir := os.Getenv("SystemDrive") + `\System Volume Information`
	if _, err := os.ReadDir(dir); err == nil || !errors.Is(err, os.ErrPermission) {
		t.Skipf("%s is not a folder this user is denied (%v)", dir, err)
	}
	m, err := globInputs(dir + `\*.evtx`)
	if err == nil || !strings.Contains(err.Error(), "Run as administrator") || m != nil {
		t.Errorf("globInputs over %s: %q, %v; want the access-denied advice", dir, m, err)
	}
}
