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

// MaxRecord is the largest single JSON record read; larger ones are
// reported and skipped.
const MaxRecord = 64 << 20

// Reader reads JSON events from a stream in any of the shapes people
// export: JSON Lines (one object per line), one JSON document, a JSON array
// of objects, or several (pretty-printed) documents back to back. The
// shape is detected from the data. Blank lines are skipped; a record that
// is not a JSON object is reported as a *source.Problem and skipped.
type Reader struct {
	path    string
	br      *bufio.Reader
	dec     Decoder
	line    int64 // lines consumed so far
	col     int   // bytes consumed since the last newline (document mode)
	buf     []byte
	problem func(*source.Problem)
	mode    int // 0 unknown, 1 lines, 2 documents
	inArray bool
	done    bool
}

var _ source.Reader = (*Reader)(nil)

// NewReader returns a reader of r, naming it path in event sources and
// problems. problem receives unreadable records; nil ignores them.
func NewReader(r io.Reader, path string, problem func(*source.Problem)) *Reader {
	if problem == nil {
		problem = func(*source.Problem) {}
	}
	return &Reader{path: path, br: bufio.NewReaderSize(r, 256<<10), problem: problem}
}

// ReadRecord returns the bytes of the next JSON record and the 1-based
// line it starts on; the slice is valid until the next call. It returns
// io.EOF at the end.
func (r *Reader) ReadRecord() ([]byte, int64, error) {
	if r.mode == 0 {
		if err := r.detect(); err != nil {
			return nil, r.line, err
		}
	}
	if r.mode == 1 {
		return r.readLine()
	}
	return r.readDocument()
}

// detect looks at the start of the stream: a first line that holds exactly
// one complete JSON object means JSON Lines; anything else is read as a
// stream of documents. It waits only for the data it needs (a pipe that
// delivers one short line is not held until more comes).
func (r *Reader) detect() error {
	r.mode = 2
	// A UTF-8 byte-order mark (Windows tools write one) is not data.
	if head, _ := r.br.Peek(3); bytes.Equal(head, utf8BOM) {
		r.br.Discard(3)
	}
	for need := 1; ; {
		_, err := r.br.Peek(need)
		head, _ := r.br.Peek(r.br.Buffered())
		if len(head) == 0 {
			return nil
		}
		i := 0
		for i < len(head) && isSpace(head[i]) {
			i++
		}
		if i < len(head) && head[i] != '{' {
			return nil
		}
		if nl := bytes.IndexByte(head[i:], '\n'); nl >= 0 {
			line := head[i : i+nl]
			if end, ok := scanValue(line, 0); ok && len(bytes.TrimSpace(line[end:])) == 0 {
				r.mode = 1
			}
			return nil
		}
		if err != nil || len(head) >= r.br.Size() {
			// One line without a newline: a single document or JSONL of
			// one line; both read the same in document mode.
			return nil
		}
		need = len(head) + 1
	}
}

var utf8BOM = []byte("\xef\xbb\xbf")

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (r *Reader) readLine() ([]byte, int64, error) {
	for {
		r.buf = r.buf[:0]
		tooLong := false
		for {
			chunk, err := r.br.ReadSlice('\n')
			if len(r.buf)+len(chunk) <= MaxRecord {
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
			r.problem(&source.Problem{Path: r.path, Line: r.line, Msg: fmt.Sprintf("line longer than %d bytes, skipped", MaxRecord)})
			continue
		}
		line := bytes.TrimRight(r.buf, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		return line, r.line, nil
	}
}

// readDocument returns the next top-level JSON value, or the next element
// when the top-level value is an array.
func (r *Reader) readDocument() ([]byte, int64, error) {
	for {
		c, err := r.skipSpace()
		if err != nil {
			return nil, r.line, err
		}
		if c == ',' {
			// Between array elements, or a stray separator between
			// documents: skip it.
			r.br.ReadByte()
			continue
		}
		if c == ']' || c == '}' {
			r.br.ReadByte()
			if r.inArray && c == ']' {
				r.inArray = false
			} else {
				r.problem(&source.Problem{Path: r.path, Line: r.line + 1, Msg: fmt.Sprintf("unexpected %q between records", c)})
			}
			continue
		}
		if !r.inArray && c == '[' {
			r.br.ReadByte()
			r.inArray = true
			continue
		}
		start := r.line + 1
		rec, err := r.readValue()
		if err != nil {
			var be *brokenError
			if errors.As(err, &be) {
				msg := be.why + ", record skipped"
				if be.resync > 0 {
					msg += fmt.Sprintf("; reading resumes at line %d", be.resync)
				}
				r.problem(&source.Problem{Path: r.path, Line: start, Msg: msg})
				if be.resync == 0 {
					return nil, r.line, io.EOF
				}
				continue
			}
			if errors.Is(err, errTooLarge) {
				r.problem(&source.Problem{Path: r.path, Line: start, Msg: fmt.Sprintf("record larger than %d bytes, skipped", MaxRecord)})
				continue
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				r.problem(&source.Problem{Path: r.path, Line: start, Msg: "truncated JSON at the end of the input"})
				return nil, r.line, io.EOF
			}
			return nil, r.line, err
		}
		return rec, start, nil
	}
}

// skipSpace consumes white space, counting lines, and peeks at the next
// byte.
func (r *Reader) skipSpace() (byte, error) {
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return 0, err
		}
		if c == '\n' {
			r.line++
			r.col = 0
		} else {
			r.col++
		}
		if !isSpace(c) {
			r.br.UnreadByte()
			r.col--
			return c, nil
		}
	}
}

// brokenError is a record whose structure cannot be followed: a string
// still open at the end of its line (JSON strings hold no raw line
// breaks) or an object still open when the next one starts. resync is the
// line reading resumes on, 0 at the end of the input.
type brokenError struct {
	why    string
	resync int64
}

func (e *brokenError) Error() string { return e.why }

var errTooLarge = errors.New("record too large")

// readValue reads one JSON value (tracking strings and nesting, not
// validating it: the decoder does that) into r.buf.
//
// A damaged record must not swallow the records after it, so readValue
// resynchronises:
//
//   - a string still open at a line break (JSON strings hold no raw line
//     breaks) breaks the record; the string is taken to end there and the
//     nesting is followed on, so the record ends at its own closing
//     bracket;
//   - a line starting with '{' in the record's own column while the record
//     is still open breaks it too: records of an array or a document
//     stream are written in one column, the next record starts there. This
//     applies only while every line inside the record is indented deeper
//     than its start (output pretty-printed without indentation puts nested
//     objects in that column too).
//
// A broken record is returned as a *brokenError once its end or the next
// record is found (or the input ends); the next record is left unread.
func (r *Reader) readValue() ([]byte, error) {
	r.buf = r.buf[:0]
	var st scanState
	tooLarge := false
	lines := int64(0)
	startCol, col := r.col, r.col
	lineStart := false // only white space seen since the last line break
	deeper := true     // every line inside the record is indented past startCol
	var broken string
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err == io.EOF {
				r.line += lines
				r.col = col
				if broken != "" {
					return nil, &brokenError{why: broken}
				}
				if len(r.buf) > 0 && (st.depth > 0 || st.inStr) {
					return nil, io.ErrUnexpectedEOF
				}
				if len(r.buf) == 0 {
					return nil, io.EOF
				}
				return r.buf, nil
			} else if err != nil {
				return nil, err
			}
		}
		// Work on the buffered bytes in place; seg is the start of those
		// not yet copied into r.buf.
		win, _ := r.br.Peek(r.br.Buffered())
		seg := 0
		keep := func(end int) {
			if broken != "" || tooLarge {
				return
			}
			if len(r.buf)+end-seg > MaxRecord {
				tooLarge = true
				return
			}
			r.buf = append(r.buf, win[seg:end]...)
		}
		for i := 0; i < len(win); i++ {
			c := win[i]
			if c == '\n' {
				if st.inStr {
					if broken == "" {
						broken = fmt.Sprintf("string not terminated on line %d", r.line+1+lines)
					}
					st.inStr, st.esc = false, false
				}
				lines++
				col = 0
				lineStart = true
			} else {
				if lineStart && !isSpace(c) {
					lineStart = false
					if c == '{' && col == startCol && st.depth > 0 && deeper {
						// The next record starts here: leave it unread.
						r.br.Discard(i)
						r.line += lines
						r.col = col
						if broken == "" {
							broken = fmt.Sprintf("object not closed before line %d", r.line+1)
						}
						return nil, &brokenError{why: broken, resync: r.line + 1}
					}
					if col <= startCol && c != '}' && c != ']' && c != ',' {
						deeper = false
					}
				}
				col++
			}
			if st.step(c) || broken != "" {
				// Structure, a string, or a broken record's bytes.
				if st.depth <= 0 && !st.inStr && (c == '}' || c == ']') {
					// The record ends here.
					keep(i + 1)
					r.br.Discard(i + 1)
					r.line += lines
					r.col = col
					if broken != "" {
						return nil, &brokenError{why: broken, resync: r.line + 1}
					}
					if tooLarge {
						return nil, errTooLarge
					}
					return r.buf, nil
				}
				continue
			}
			if st.depth == 0 && (isSpace(c) || c == ',') {
				// End of a scalar at top level: the separator is left
				// unread.
				if c == '\n' {
					lines--
				} else {
					col--
				}
				keep(i)
				r.br.Discard(i)
				r.line += lines
				r.col = col
				if tooLarge {
					return nil, errTooLarge
				}
				return r.buf, nil
			}
		}
		keep(len(win))
		r.br.Discard(len(win))
	}
}

// scanState follows strings and nesting through JSON text, without
// validating it (the decoder does that).
type scanState struct {
	depth      int
	inStr, esc bool
}

// step advances over one byte and reports whether it was part of a string
// or a bracket; other bytes (scalars, separators, space) are the caller's.
func (s *scanState) step(c byte) bool {
	switch {
	case s.inStr:
		switch {
		case s.esc:
			s.esc = false
		case c == '\\':
			s.esc = true
		case c == '"':
			s.inStr = false
		}
	case c == '"':
		s.inStr = true
	case c == '{' || c == '[':
		s.depth++
	case c == '}' || c == ']':
		s.depth--
	default:
		return false
	}
	return true
}

// scanValue reports where the JSON object or array starting at b[i] ends.
func scanValue(b []byte, i int) (int, bool) {
	var st scanState
	for ; i < len(b); i++ {
		c := b[i]
		if st.step(c) && !st.inStr && st.depth == 0 && (c == '}' || c == ']') {
			return i + 1, true
		}
	}
	return i, false
}

// Next reads the next event into e.
func (r *Reader) Next(e *event.Event) error {
	for {
		rec, n, err := r.ReadRecord()
		if err != nil {
			return err
		}
		if err := DecodeEvent(&r.dec, rec, e); err != nil {
			r.problem(&source.Problem{Path: r.path, Line: n, Msg: err.Error(), Err: err})
			continue
		}
		e.Source = event.Source{Path: r.path, Line: n}
		return nil
	}
}

// DecodeEvent decodes one record into e and sets its timestamp.
func DecodeEvent(d *Decoder, rec []byte, e *event.Event) error {
	if err := d.Decode(rec, e); err != nil {
		if errors.Is(err, ErrNotObject) {
			return fmt.Errorf("record is JSON but not an object")
		}
		return err
	}
	if t, ok := e.Timestamp(); ok {
		e.Time = t
	}
	return nil
}
