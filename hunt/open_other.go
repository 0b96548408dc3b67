//go:build !windows

package hunt

import (
	"os"
	"path/filepath"
)

// openInput opens an input file for reading. On Windows it shares the
// file with the event log service (open_windows.go); elsewhere it is
// os.Open.
func openInput(path string) (*os.File, error) { return os.Open(path) }

// globInputs expands a glob argument. File names compare with case
// outside Windows, as the file systems there do.
func globInputs(pattern string) ([]string, error) { return filepath.Glob(pattern) }
