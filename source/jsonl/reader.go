package jsonl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/source"
)

// MaxLine is the longest line read; longer lines are reported and skipped.
const MaxLine = 64 << 20

// Reader reads JSON Lines: one JSON object per line. Blank lines are
// skipped; a line that is not a JSON object is reported as a
// *source.Problem and skipped.
type Reader struct {
	path    string
	br      *bufio.Reader
	dec     Decoder
	line    int64
	buf     []byte
	problem func(*source.Problem)
}

var _ source.Reader = (*Reader)(nil)

// NewReader returns a reader of r, naming it path in event sources and
// problems. problem receives unreadable lines; nil ignores them.
func NewReader(r io.Reader, path string, problem func(*source.Problem)) *Reader {
	if problem == nil {
		problem = func(*source.Problem) {}
	}
	return &Reader{path: path, br: bufio.NewReaderSize(r, 256<<10), problem: problem}
}

// ReadLine returns the next non-blank line and its 1-based number; the
// slice is valid until the next call. It returns io.EOF at the end.
func (r *Reader) ReadLine() ([]byte, int64, error) {
	for {
		r.buf = r.buf[:0]
		tooLong := false
		for {
			chunk, err := r.br.ReadSlice('\n')
			if len(r.buf)+len(chunk) <= MaxLine {
				r.buf = append(r.buf, chunk...)
			} else {
				tooLong = true
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil && err != io.EOF {
				return nil, r.line, fmt.Errorf("%s: %w", r.path, err)
			}
			if err == io.EOF && len(r.buf) == 0 && !tooLong {
				return nil, r.line, io.EOF
			}
			break
		}
		r.line++
		if tooLong {
			r.problem(&source.Problem{Path: r.path, Line: r.line, Msg: fmt.Sprintf("line longer than %d bytes, skipped", MaxLine)})
			continue
		}
		line := bytes.TrimRight(r.buf, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		return line, r.line, nil
	}
}

// Next reads the next event into e.
func (r *Reader) Next(e *event.Event) error {
	for {
		line, n, err := r.ReadLine()
		if err != nil {
			return err
		}
		if err := DecodeEvent(&r.dec, line, e); err != nil {
			r.problem(&source.Problem{Path: r.path, Line: n, Msg: err.Error(), Err: err})
			continue
		}
		e.Source = event.Source{Path: r.path, Line: n}
		return nil
	}
}

// DecodeEvent decodes one line into e and sets its timestamp.
func DecodeEvent(d *Decoder, line []byte, e *event.Event) error {
	if err := d.Decode(line, e); err != nil {
		if errors.Is(err, ErrNotObject) {
			return fmt.Errorf("line is JSON but not an object")
		}
		return err
	}
	if t, ok := EventTime(e); ok {
		e.Time = t
	}
	return nil
}
