package hunt

import (
	"bufio"
	"io"
	"sync/atomic"
)

// Progress counts a hunt's work as it goes, for a progress display read
// from another goroutine. A nil *Progress counts nothing.
type Progress struct {
	bytes  atomic.Int64
	events atomic.Int64
}

// BytesRead is the number of input bytes read so far (compressed bytes
// for gzipped inputs).
func (p *Progress) BytesRead() int64 {
	if p == nil {
		return 0
	}
	return p.bytes.Load()
}

// Events is the number of events read so far, whether or not they were
// inside --from/--to.
func (p *Progress) Events() int64 {
	if p == nil {
		return 0
	}
	return p.events.Load()
}

func (p *Progress) addEvents(n int64) {
	if p != nil {
		p.events.Add(n)
	}
}

// reader counts the bytes read through r.
func (p *Progress) reader(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return &countingReader{r: r, n: &p.bytes}
}

// readerAt counts the bytes read through r, a file whose head was
// already read (and counted) through peeked, a *bufio.Reader that has not
// consumed anything: those bytes are uncounted, as r reads them again.
func (p *Progress) readerAt(r io.ReaderAt, peeked io.Reader) io.ReaderAt {
	if p == nil {
		return r
	}
	if br, ok := peeked.(*bufio.Reader); ok {
		p.bytes.Add(-int64(br.Buffered()))
	}
	return &countingReaderAt{r: r, n: &p.bytes}
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

type countingReaderAt struct {
	r io.ReaderAt
	n *atomic.Int64
}

func (c *countingReaderAt) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(b, off)
	c.n.Add(int64(n))
	return n, err
}

// CountReader returns r counting the bytes read through it as input
// bytes, for inputs that Run does not open itself (standard input).
func (p *Progress) CountReader(r io.Reader) io.Reader {
	if r == nil {
		return nil
	}
	return p.reader(r)
}
