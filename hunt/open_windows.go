//go:build windows

package hunt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Windows error codes syscall does not name.
const (
	errorSharingViolation syscall.Errno = 32
	errorLockViolation    syscall.Errno = 33
)

// openInput opens an input file for reading the way the event log
// service lets other readers in: the service keeps the live logs
// (C:\Windows\System32\winevt\Logs\*.evtx) open for writing and may
// delete or rename them, so a reader must share read, write and delete
// access (os.Open shares read and write only, and fails with a sharing
// violation on a log the service holds). Missing rights are reported
// with what to do about them.
func openInput(path string) (*os.File, error) {
	p, err := syscall.UTF16PtrFromString(longPath(path))
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ,
		syscall.FILE_SHARE_READ|syscall.FILE_SHARE_WRITE|syscall.FILE_SHARE_DELETE,
		nil, syscall.OPEN_EXISTING, syscall.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: openError(err)}
	}
	return os.NewFile(uintptr(h), path), nil
}

// errNeedsAdmin explains an access-denied open.
var errNeedsAdmin = errors.New("access denied: reading this file needs more rights; the live event logs in C:\\Windows\\System32\\winevt\\Logs (Security in particular) are readable by Administrators only: run vigil from an elevated prompt (Run as administrator), or hunt over a copy exported with wevtutil epl")

// openError turns the Windows errors of opening a log into messages that
// say what to do; the original error stays wrapped.
func openError(err error) error {
	switch {
	case errors.Is(err, syscall.ERROR_ACCESS_DENIED), errors.Is(err, syscall.ERROR_PRIVILEGE_NOT_HELD):
		return fmt.Errorf("%w (%w)", errNeedsAdmin, err)
	case errors.Is(err, errorSharingViolation), errors.Is(err, errorLockViolation):
		return fmt.Errorf("the file is open in another program that does not share it (%w); close it or hunt over a copy", err)
	}
	return err
}

// longPath returns an absolute path longer than the classic 260-character
// limit in the extended-length form (\\?\C:\..., \\?\UNC\server\share\...)
// that CreateFile accepts; other paths are returned as they are.
func longPath(path string) string {
	if len(path) < 248 || strings.HasPrefix(path, `\\?\`) || strings.HasPrefix(path, `\\.\`) {
		return path
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if strings.HasPrefix(abs, `\\`) {
		return `\\?\UNC\` + abs[2:]
	}
	return `\\?\` + abs
}

// globInputs expands a glob argument as Windows users expect: names
// compare without case (*.evtx matches Security.EVTX), drive letters and
// UNC shares (\\server\share\logs\*.evtx) are volumes.
func globInputs(pattern string) ([]string, error) {
	m, err := globFold(pattern)
	var pe *os.PathError
	if errors.As(err, &pe) {
		pe.Err = openError(pe.Err)
	}
	return m, err
}
