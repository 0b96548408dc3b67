package hunt

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/source"
	"github.com/vigil-detect/vigil/source/evtx"
)

// evtxRecord is an EVTX record handed to a worker: the reader's field
// strings are immutable, so only the slice is copied.
type evtxRecord struct {
	id     uint64
	fields []evtx.Field
}

const batchRecords = 256

// isEVTX reports whether br's content is EVTX: the file header signature,
// or, when the header is damaged, a chunk signature where the first chunk
// starts.
func isEVTX(br *bufio.Reader) bool {
	head, _ := br.Peek(evtx.SniffLen)
	return evtx.IsEVTX(head)
}

// produceEVTX reads an EVTX file into record batches. The EVTX reader
// parses chunks on every core; the records come out in file order. A
// regular file (f, not compressed) is read at random; anything else (r:
// standard input, a pipe, a gzip stream) chunk by chunk as it comes, so
// memory does not grow with the input.
func produceEVTX(ctx context.Context, path string, r *bufio.Reader, f *os.File, opts Options, work, order chan<- *batch) error {
	var pending []*source.Problem
	eopts := evtx.Options{
		Name: path,
		Warn: func(w evtx.Warning) {
			pending = append(pending, evtxProblem(path, w))
		},
	}
	var rd *evtx.Reader
	var err error
	if f != nil {
		st, serr := f.Stat()
		if serr != nil {
			return serr
		}
		rd, err = evtx.NewReader(opts.Progress.readerAt(f, r), st.Size(), eopts)
	} else {
		rd, err = evtx.NewStreamReader(r, eopts)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer rd.Close()
	b := getBatch(path)
	flush := func() {
		b.problems = append(b.problems, pending...)
		pending = nil
		if b.recs == nil {
			b.recs = []evtxRecord{}
		}
		order <- b
		work <- b
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			flush()
			return fmt.Errorf("%s: %w", path, err)
		}
		b.recs = append(b.recs, evtxRecord{id: rec.ID, fields: append([]evtx.Field(nil), rec.Fields...)})
		if len(b.recs) >= batchRecords {
			flush()
			if ctx.Err() != nil {
				return nil
			}
			b = getBatch(path)
		}
	}
	flush()
	return nil
}

// evtxProblem is an EVTX reader's warning as a problem of the input: one
// about the file header is about the whole file (it names no record), one
// about a chunk or record carries its offset.
func evtxProblem(path string, w evtx.Warning) *source.Problem {
	if w.Chunk < 0 {
		return &source.Problem{Path: path, Offset: w.Offset, Msg: "file header: " + w.Msg, Damage: true}
	}
	return &source.Problem{Path: path, Offset: w.Offset, Msg: fmt.Sprintf("chunk %d: %s", w.Chunk, w.Msg)}
}

// RecordEvent fills e from an EVTX record.
func RecordEvent(e *event.Event, path string, id uint64, fields []evtx.Field) {
	e.Reset()
	for _, f := range fields {
		e.Add(f.Name, f.Value, event.String)
	}
	e.Source = event.Source{Path: path, RecordID: id}
	if t, ok := e.Timestamp(); ok {
		e.Time = t
	}
}

func (w *worker) runRecords(b *batch) {
	for _, r := range b.recs {
		RecordEvent(w.ev, b.path, r.id, r.fields)
		w.process(b, w.ev)
	}
}
