package sigma

import (
	"errors"
	"fmt"
)

// Error is a problem found in a Sigma document, located at a position.
type Error struct {
	Pos Pos
	// Doc names the document the problem is in (its title or id) when known.
	Doc string
	Msg string
	// Err is the underlying error, if any; Unwrap returns it.
	Err error
}

func (e *Error) Error() string {
	loc := e.Pos.File
	if e.Pos.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.Pos.File, e.Pos.Line, e.Pos.Col)
	}
	if loc == "" {
		return e.Msg
	}
	return loc + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error at pos. A %w verb in format wraps its argument.
func Errorf(pos Pos, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Pos: pos, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// ErrorList is a list of problems; it is itself an error.
type ErrorList []error

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	return fmt.Sprintf("%s (and %d more errors)", l[0].Error(), len(l)-1)
}

// Unwrap returns the list's errors, for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error { return l }

// Err returns nil for an empty list and the list otherwise.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
