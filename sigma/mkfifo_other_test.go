//go:build !unix

package sigma_test

import "errors"

// mkfifo: named pipes in the file system are Unix; the tests that make
// them skip elsewhere, and this keeps them compiling there.
func mkfifo(string, uint32) error { return errors.New("named pipes are Unix") }
