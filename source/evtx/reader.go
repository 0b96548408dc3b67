package evtx

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"sync"
	"time"
)

const (
	fileHeaderSize  = 4096
	chunkSize       = 65536
	chunkHeaderSize = 512
	// maxKeptWarnings caps the warnings retained for Reader.Warnings so that
	// memory stays flat on badly damaged files; Options.Warn still sees all.
	maxKeptWarnings = 1000
)

var (
	fileSignature  = []byte("ElfFile\x00")
	chunkSignature = []byte("ElfChnk\x00")
)

// ErrNotEVTX is returned by Open and NewReader when the input has neither an
// EVTX file header signature nor a chunk signature where the first chunk
// should be.
var ErrNotEVTX = errors.New("evtx: not an EVTX file")

// Field is one flattened field of a record.
type Field struct {
	Name  string // flattened name, e.g. "EventID", "Provider_Name", "CommandLine"
	Value string // textual value, see the package documentation for formats
}

// Record is one event record.
//
// A *Record returned by Reader.Next, and its Fields slice, are owned by the
// Reader and are overwritten by a later call to Next; use Clone to keep one.
// The Name and Value strings themselves are immutable and may be retained
// without copying.
type Record struct {
	ID      uint64    // EventRecordID from the record header
	Written time.Time // record header's written FILETIME, UTC
	Chunk   int       // chunk index in the file (0 is the chunk at offset 4096)
	Offset  int64     // file offset of the record
	Fields  []Field   // in document order: System fields first, then EventData/UserData
}

// Clone returns a deep copy of r that stays valid after further calls to
// Reader.Next.
func (r *Record) Clone() *Record {
	c := *r
	c.Fields = append([]Field(nil), r.Fields...)
	return &c
}

// Get returns the value of the first field called name and whether it exists.
func (r *Record) Get(name string) (string, bool) {
	for i := range r.Fields {
		if r.Fields[i].Name == name {
			return r.Fields[i].Value, true
		}
	}
	return "", false
}

// Warning describes a recoverable problem: a bad checksum, a corrupt chunk
// or record, or BinXML that could not be decoded. The damaged part is skipped
// (or partially recovered) and reading goes on.
type Warning struct {
	File   string // file name given to Open, or Options.Name
	Chunk  int    // chunk index, -1 for the file header
	Offset int64  // file offset of the damaged structure
	Msg    string // what is wrong
}

// String formats the warning as "file: chunk N at offset 0x...: msg".
func (w Warning) String() string {
	if w.Chunk < 0 {
		return fmt.Sprintf("%s: file header at offset %#x: %s", w.File, w.Offset, w.Msg)
	}
	return fmt.Sprintf("%s: chunk %d at offset %#x: %s", w.File, w.Chunk, w.Offset, w.Msg)
}

// Options tunes a Reader. The zero value is ready to use.
type Options struct {
	// Workers is the number of goroutines parsing chunks in parallel;
	// 0 means runtime.GOMAXPROCS(0). With 1 everything runs in the goroutine
	// that calls Next. Records are always returned in file order.
	Workers int
	// Warn, if set, is called for every Warning, always from the goroutine
	// that calls Open/NewReader (file header warnings) or Next, in file order.
	Warn func(Warning)
	// Name is the file name reported in warnings by NewReader; Open uses
	// its path argument when Name is empty.
	Name string
}

// Reader reads the records of one EVTX file in order. It is not safe for
// concurrent use by several goroutines; Close releases its resources.
type Reader struct {
	ra      io.ReaderAt
	size    int64
	name    string
	opt     Options
	closer  io.Closer
	nchunks int
	// announced is the file header's chunk count (0 when the header is
	// damaged); chunks counts the chunks read.
	announced int
	chunks    int
	// stream, when set, is read chunk by chunk in order instead of ra
	// (NewStreamReader); first is the first chunk, read with the header.
	stream io.Reader
	first  []byte

	cur      *chunkResult
	pos      int
	warnings []Warning
	err      error
	closed   bool

	// Workers == 1: parse in the caller's goroutine.
	p    *parser
	next int

	// Workers > 1: ordered pipeline.
	order   chan chan *chunkResult
	done    chan struct{}
	wg      sync.WaitGroup
	started bool
}

// Parsers (64 KiB buffer, caches) and chunk results are recycled across
// Readers, so that opening many small files stays cheap.
var (
	parserPool sync.Pool
	resultPool sync.Pool
)

func getParser(name string) *parser {
	if v := parserPool.Get(); v != nil {
		p := v.(*parser)
		p.file = name
		return p
	}
	return newParser(name)
}

func putParser(p *parser) {
	p.res = nil
	p.buf = nil
	parserPool.Put(p)
}

// Open opens the EVTX file at path. The file is read chunk by chunk, so
// memory use does not depend on its size. Close the Reader when done.
func Open(path string, opt Options) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if opt.Name == "" {
		opt.Name = path
	}
	r, err := NewReader(f, st.Size(), opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader returns a Reader for the size bytes of EVTX data in r. r must
// allow concurrent ReadAt calls (as *os.File and *bytes.Reader do) when more
// than one worker is used.
//
// It fails only when the data is not EVTX at all (ErrNotEVTX) or cannot be
// read; a damaged file header is reported as a Warning and the chunks are
// read anyway.
func NewReader(r io.ReaderAt, size int64, opt Options) (*Reader, error) {
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	rd := &Reader{ra: r, size: size, name: opt.Name, opt: opt}
	if size < fileHeaderSize+chunkHeaderSize {
		// Too small to hold one chunk header: accept only a valid file
		// header (an empty log), reported as truncated.
		var hdr [128]byte
		n, _ := r.ReadAt(hdr[:], 0)
		if n < 8 || !bytes.Equal(hdr[:8], fileSignature) {
			return nil, ErrNotEVTX
		}
		rd.warn(Warning{File: rd.name, Chunk: -1, Msg: fmt.Sprintf("file truncated to %d bytes, no chunk present", size)})
		return rd, nil
	}
	var hdr [128]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil, err
	}
	var csig [8]byte
	if _, err := r.ReadAt(csig[:], fileHeaderSize); err != nil {
		return nil, err
	}
	if err := rd.checkHeader(hdr[:], csig[:]); err != nil {
		return nil, err
	}
	rd.nchunks = int((size - fileHeaderSize + chunkSize - 1) / chunkSize)
	if rd.opt.Workers > rd.nchunks {
		// No point in more workers than chunks; a one-chunk file is parsed
		// in the caller's goroutine.
		rd.opt.Workers = max(rd.nchunks, 1)
	}
	return rd, nil
}

// checkHeader checks the file header hdr (its first 128 bytes) given the
// first 8 bytes of the first chunk: a damaged header signature is tolerated
// when the chunk signature is there (the file is EVTX by content).
func (r *Reader) checkHeader(hdr, csig []byte) error {
	if !bytes.Equal(hdr[:8], fileSignature) {
		if !bytes.Equal(csig, chunkSignature) {
			return ErrNotEVTX
		}
		r.warn(Warning{File: r.name, Chunk: -1, Msg: "bad file header signature, reading the chunks"})
		return nil
	}
	if got, want := crc32.ChecksumIEEE(hdr[:120]), le32(hdr[124:]); got != want {
		r.warn(Warning{File: r.name, Chunk: -1, Msg: fmt.Sprintf("file header CRC mismatch (stored %#08x, computed %#08x)", want, got)})
	}
	r.announced = int(le16(hdr[42:]))
	return nil
}

// IsEVTX reports whether head, the first bytes of a file (at least 4104
// of them for a file whose header is damaged), is EVTX by content: the
// file header signature, or the chunk signature where the first chunk
// starts.
func IsEVTX(head []byte) bool {
	return bytes.HasPrefix(head, fileSignature) ||
		len(head) >= fileHeaderSize+8 && bytes.Equal(head[fileHeaderSize:fileHeaderSize+8], chunkSignature)
}

// SniffLen is how many leading bytes IsEVTX needs to recognise every EVTX
// file it can.
const SniffLen = fileHeaderSize + 8

// NewStreamReader returns a Reader of the EVTX data read from r in order,
// 64 KiB chunk after chunk, for input that cannot be read at random
// (standard input, a pipe, a decompressor): memory stays bounded by the
// workers' chunks whatever the size of the data. The Reader never reads r
// past the data it needs; Close does not close r.
func NewStreamReader(r io.Reader, opt Options) (*Reader, error) {
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	rd := &Reader{name: opt.Name, opt: opt, stream: r, nchunks: -1}
	hdr := make([]byte, fileHeaderSize)
	n, err := io.ReadFull(r, hdr)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	var first []byte
	if n == fileHeaderSize {
		first = make([]byte, chunkSize)
		m, err := io.ReadFull(r, first)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return nil, err
		}
		first = first[:m]
	}
	if size := n + len(first); size < fileHeaderSize+chunkHeaderSize {
		// Too small to hold one chunk header, as in NewReader.
		if n < 8 || !bytes.Equal(hdr[:8], fileSignature) {
			return nil, ErrNotEVTX
		}
		rd.warn(Warning{File: rd.name, Chunk: -1, Msg: fmt.Sprintf("file truncated to %d bytes, no chunk present", size)})
		rd.nchunks, rd.opt.Workers = 0, 1
		return rd, nil
	}
	if err := rd.checkHeader(hdr, first[:8]); err != nil {
		return nil, err
	}
	m := len(first)
	rd.first = first
	if m < chunkSize {
		rd.opt.Workers = 1
	}
	return rd, nil
}

// readChunk reads chunk index, the next of a stream, into buf (chunkSize
// bytes) and returns its bytes; nil at the end of the stream. One
// goroutine at a time reads the stream.
func (r *Reader) readChunk(index int, buf []byte) ([]byte, error) {
	if r.first != nil {
		b := r.first
		r.first = nil
		return b, nil
	}
	n, err := io.ReadFull(r.stream, buf)
	switch {
	case err == io.EOF:
		return nil, nil
	case err == io.ErrUnexpectedEOF:
		return buf[:n], nil
	case err != nil:
		return nil, fmt.Errorf("evtx: %s: reading chunk %d: %w", r.name, index, err)
	}
	return buf, nil
}

// reportMissing warns when fewer chunks were present than the file header
// announces: the file was cut.
func (r *Reader) reportMissing() {
	if r.announced > r.chunks {
		r.warn(Warning{File: r.name, Chunk: -1, Offset: fileHeaderSize + int64(r.chunks)*chunkSize,
			Msg: fmt.Sprintf("file ends after %d chunks, the header announces %d: %d chunks missing (the file was cut)", r.chunks, r.announced, r.announced-r.chunks)})
	}
}

// Warnings returns the warnings reported so far (at most the first 1000).
func (r *Reader) Warnings() []Warning { return r.warnings }

func (r *Reader) warn(w Warning) {
	if len(r.warnings) < maxKeptWarnings {
		r.warnings = append(r.warnings, w)
	}
	if r.opt.Warn != nil {
		r.opt.Warn(w)
	}
}

// Next returns the next record in file order (by chunk, then by position in
// the chunk). It returns io.EOF after the last record, or another error if
// reading the underlying data fails. The returned Record is overwritten by
// later calls; see Record.
func (r *Reader) Next() (*Record, error) {
	for {
		if r.cur != nil && r.pos < len(r.cur.records) {
			rec := &r.cur.records[r.pos]
			r.pos++
			return rec, nil
		}
		if r.err != nil {
			return nil, r.err
		}
		if r.closed {
			return nil, io.EOF
		}
		if r.cur != nil {
			resultPool.Put(r.cur)
			r.cur = nil
		}
		res := r.fetch()
		if res == nil {
			r.reportMissing()
			r.err = io.EOF
			return nil, io.EOF
		}
		if res.present {
			r.chunks++
		}
		for _, w := range res.warnings {
			r.warn(w)
		}
		if res.err != nil {
			r.err = res.err
		}
		r.cur, r.pos = res, 0
	}
}

// Close stops the workers and closes the file opened by Open. It is safe to
// call more than once.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.p != nil {
		putParser(r.p)
		r.p = nil
	}
	if r.started {
		close(r.done)
		// Drain so that the dispatcher can exit, then wait for workers.
		for range r.order {
		}
		r.wg.Wait()
	}
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

func (r *Reader) getResult() *chunkResult {
	if v := resultPool.Get(); v != nil {
		return v.(*chunkResult)
	}
	return &chunkResult{}
}

// fetch returns the next parsed chunk in order, or nil at the end.
func (r *Reader) fetch() *chunkResult {
	if r.opt.Workers == 1 && r.stream != nil {
		if r.nchunks == 0 {
			return nil
		}
		if r.p == nil {
			r.p = getParser(r.name)
		}
		res := r.getResult()
		data, err := r.readChunk(r.next, r.p.raw)
		if err != nil {
			res.reset()
			res.err = err
			r.nchunks = 0
			return res
		}
		if data == nil {
			putParser(r.p)
			r.p = nil
			r.nchunks = 0
			return nil
		}
		r.p.parseChunkBytes(r.next, data, res)
		r.next++
		return res
	}
	if r.opt.Workers == 1 {
		if r.next >= r.nchunks {
			if r.p != nil {
				putParser(r.p)
				r.p = nil
			}
			return nil
		}
		if r.p == nil {
			r.p = getParser(r.name)
		}
		res := r.getResult()
		r.p.parseChunk(r.ra, r.size, r.next, res)
		r.next++
		return res
	}
	if !r.started {
		r.start()
	}
	slot, ok := <-r.order
	if !ok {
		return nil
	}
	return <-slot
}

type job struct {
	index int
	slot  chan *chunkResult
	data  []byte  // the chunk, for a stream
	err   error   // reading the stream failed
	buf   *[]byte // data's buffer, returned to chunkBufs
}

// chunkBufs recycles the 64 KiB buffers of stream chunks.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

func (r *Reader) start() {
	r.started = true
	w := r.opt.Workers
	r.order = make(chan chan *chunkResult, 2*w)
	r.done = make(chan struct{})
	jobs := make(chan job)
	r.wg.Add(w + 1)
	go func() {
		defer r.wg.Done()
		defer close(r.order)
		defer close(jobs)
		for i := 0; r.stream != nil || i < r.nchunks; i++ {
			j := job{index: i}
			if r.stream != nil {
				// The dispatcher alone reads the stream, in order.
				j.buf = chunkBufs.Get().(*[]byte)
				j.data, j.err = r.readChunk(i, *j.buf)
				if j.data == nil && j.err == nil {
					chunkBufs.Put(j.buf)
					return
				}
			}
			j.slot = make(chan *chunkResult, 1)
			select {
			case r.order <- j.slot:
			case <-r.done:
				return
			}
			select {
			case jobs <- j:
			case <-r.done:
				return
			}
			if j.err != nil {
				return
			}
		}
	}()
	for range w {
		go func() {
			defer r.wg.Done()
			p := getParser(r.name)
			defer putParser(p)
			for j := range jobs {
				res := r.getResult()
				switch {
				case j.err != nil:
					res.reset()
					res.err = j.err
				case j.buf != nil:
					p.parseChunkBytes(j.index, j.data, res)
				default:
					p.parseChunk(r.ra, r.size, j.index, res)
				}
				if j.buf != nil {
					chunkBufs.Put(j.buf)
				}
				j.slot <- res
			}
		}()
	}
}

// ReadAll is a convenience that reads every record of the file at path with
// opt and returns deep copies of them together with the warnings.
func ReadAll(path string, opt Options) ([]*Record, []Warning, error) {
	r, err := Open(path, opt)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	var out []*Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, r.Warnings(), nil
		}
		if err != nil {
			return out, r.Warnings(), err
		}
		out = append(out, rec.Clone())
	}
}
