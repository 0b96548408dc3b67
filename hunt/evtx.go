package hunt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"

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

var evtxMagic = []byte("ElfFile\x00")

func isEVTX(br *bufio.Reader) bool {
	head, _ := br.Peek(len(evtxMagic))
	return bytes.Equal(head, evtxMagic)
}

// produceEVTX reads an EVTX file into record batches. The EVTX reader
// parses chunks on every core; the records come out in file order.
func produceEVTX(ctx context.Context, path string, r io.Reader, compressed bool, opts Options, work, order chan<- *batch) error {
	var ra io.ReaderAt
	var size int64
	if f, err := openInput(path); err == nil && path != "<stdin>" && !compressed {
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		ra, size = opts.Progress.readerAt(f, r), st.Size()
	} else {
		if f != nil {
			f.Close()
		}
		// Standard input or a compressed file: EVTX needs random access,
		// so read it into memory.
		data, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		ra, size = bytes.NewReader(data), int64(len(data))
	}
	var pending []*source.Problem
	rd, err := evtx.NewReader(ra, size, evtx.Options{
		Name: path,
		Warn: func(w evtx.Warning) {
			pending = append(pending, &source.Problem{Path: path, Offset: w.Offset, Msg: fmt.Sprintf("chunk %d: %s", w.Chunk, w.Msg)})
		},
	})
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
