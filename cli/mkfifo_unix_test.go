//go:build unix

package cli

import "syscall"

// mkfifo makes a named pipe for the hostile-input tests (which skip on
// Windows, where the file system has none).
func mkfifo(path string, mode uint32) error { return syscall.Mkfifo(path, mode) }
