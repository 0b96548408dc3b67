// Package term tells whether a file is a terminal and how wide it is,
// with the standard library only (ioctl on Unix, GetConsoleMode on
// Windows), so that vigil needs no terminal dependency.
package term

import "os"

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	return isTerminal(f)
}

// Width returns the terminal's width in columns, or 0 when unknown.
func Width(f *os.File) int {
	if f == nil {
		return 0
	}
	return width(f)
}
