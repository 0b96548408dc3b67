package ingest

import (
	"io"

	"github.com/vigil-detect/vigil/source"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// Rejected is an event that was not stored, with its 1-based line in the
// sender's data.
type Rejected struct {
	Line  int64  `json:"line"`
	Error string `json:"error"`
}

// maxRejected caps the rejected lines listed in one reply.
const maxRejected = 1000

// readRecords reads JSON events from r in any shape the jsonl reader
// takes (JSON Lines, a JSON array, one or more documents) into b. It
// returns the events it could not read; err is a read error of r.
func (b *Batch) readRecords(h *hostReader, r io.Reader, name string) (rejected []Rejected, nrej int, err error) {
	reject := func(line int64, msg string) {
		nrej++
		if len(rejected) < maxRejected {
			rejected = append(rejected, Rejected{Line: line, Error: msg})
		}
	}
	jr := jsonl.NewReader(r, name, func(p *source.Problem) { reject(p.Line, p.Msg) })
	for {
		rec, line, rerr := jr.ReadRecord()
		if rerr == io.EOF {
			return rejected, nrej, nil
		}
		if rerr != nil {
			return rejected, nrej, rerr
		}
		host, herr := h.host(rec)
		if herr != nil {
			reject(line, herr.Error())
			continue
		}
		if aerr := b.Add(host, rec); aerr != nil {
			reject(line, aerr.Error())
		}
	}
}
