// Package source defines how log readers hand events to vigil: the small
// Reader interface that every input format implements, and the Problem type
// that reports input that could not be read, with its location.
//
// The formats live in sub-packages: source/jsonl (JSON Lines and other JSON
// shapes) and source/evtx (Windows EVTX files).
package source

import (
	"fmt"

	"github.com/vigil-detect/vigil/event"
)

// Reader reads events one at a time.
//
// Next fills e (after resetting it) with the next event and returns nil,
// or returns io.EOF when the input is exhausted. Input it cannot read is
// reported to the reader's problem callback and skipped: Next only returns
// other errors when reading cannot go on (an I/O error). The strings of e
// stay valid until the next call to Next.
type Reader interface {
	Next(e *event.Event) error
}

// Problem is a piece of input that could not be read. It is reported, the
// rest of the input is processed.
type Problem struct {
	Path   string
	Line   int64 // 1-based line, for line-oriented input
	Offset int64 // byte offset, when lines do not apply
	Msg    string
	Err    error
	// Damage marks a problem of the file as a whole that did not stop
	// it being read (a damaged EVTX file header, missing chunks): the
	// file is damaged, not unreadable.
	Damage bool
}

func (p *Problem) Error() string {
	switch {
	case p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.Path, p.Line, p.Msg)
	case p.Offset > 0:
		return fmt.Sprintf("%s@%d: %s", p.Path, p.Offset, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.Path, p.Msg)
}

func (p *Problem) Unwrap() error { return p.Err }
