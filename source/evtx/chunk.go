package evtx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

var recordSignature = []byte{0x2a, 0x2a, 0x00, 0x00}

const recordHeaderSize = 24

// chunkResult is what a worker hands back for one chunk.
type chunkResult struct {
	records  []Record
	fields   []Field
	warnings []Warning
	err      error
	present  bool // the chunk had data
}

func (c *chunkResult) reset() {
	c.records = c.records[:0]
	c.fields = c.fields[:0]
	c.warnings = c.warnings[:0]
	c.err = nil
	c.present = false
}

// pendingField is a field whose strings are not materialised yet. It holds
// no pointers, so appending millions of them costs the GC nothing.
type pendingField struct {
	name    int32 // index in parser.nameTab; -1 means out[nameOff:nameEnd]
	nameOff int32
	nameEnd int32
	valOff  int32
	valEnd  int32
}

type recordSpan struct {
	first, last int // range in parser.fl
}

// parser holds the per-worker state, reused from chunk to chunk.
type parser struct {
	file     string
	chunk    int
	chunkOff int64
	buf      []byte // the current chunk
	raw      []byte // backing array of buf
	res      *chunkResult

	tmpl       map[uint32]*template
	intern     map[string]string
	ids        map[string]int32 // interned string → index in nameTab
	nameTab    []string
	scratch    []byte
	vals       []value
	out        []byte
	fl         []pendingField
	spans      []recordSpan
	nodes      int // nodes compiled in this chunk (budget)
	steps      int // nodes visited for the current record (budget)
	chunkSteps int // nodes visited for the current chunk (budget)
	names      map[uint32]string

	// Cross-chunk template cache; selfLo/selfHi bound the definition being
	// compiled and selfOK tells whether it only references itself.
	xcache         map[tmplKey][]cachedTemplate
	selfLo, selfHi int
	selfOK         bool
	relocs         []reloc
	xcacheBytes    int // definition bytes held by xcache
}

func newParser(file string) *parser {
	return &parser{
		file:   file,
		raw:    make([]byte, chunkSize),
		tmpl:   make(map[uint32]*template),
		names:  make(map[uint32]string),
		xcache: make(map[tmplKey][]cachedTemplate),
		intern: make(map[string]string),
		ids:    make(map[string]int32),
	}
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

func (p *parser) warnf(off int, format string, args ...any) {
	if len(p.res.warnings) >= 256 {
		return
	}
	p.res.warnings = append(p.res.warnings, Warning{
		File:   p.file,
		Chunk:  p.chunk,
		Offset: p.chunkOff + int64(off),
		Msg:    fmt.Sprintf(format, args...),
	})
}

func allZero(b []byte) bool {
	for len(b) >= 32 {
		if le64(b)|le64(b[8:])|le64(b[16:])|le64(b[24:]) != 0 {
			return false
		}
		b = b[32:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parseChunk reads chunk index from ra and fills res with its records.
func (p *parser) parseChunk(ra io.ReaderAt, size int64, index int, res *chunkResult) {
	res.reset()
	p.res = res
	p.chunk = index
	p.chunkOff = fileHeaderSize + int64(index)*chunkSize
	n := size - p.chunkOff
	if n > chunkSize {
		n = chunkSize
	}
	if n <= 0 {
		return
	}
	got, err := ra.ReadAt(p.raw[:n], p.chunkOff)
	if err != nil && err != io.EOF {
		res.err = fmt.Errorf("evtx: %s: reading chunk %d: %w", p.file, index, err)
		return
	}
	res.present = got > 0
	p.buf = p.raw[:got]
	p.parseChunkData()
}

// parseChunkBytes parses data, chunk index of a stream, into res. data
// is only read, and not retained after the call.
func (p *parser) parseChunkBytes(index int, data []byte, res *chunkResult) {
	res.reset()
	p.res = res
	p.chunk = index
	p.chunkOff = fileHeaderSize + int64(index)*chunkSize
	res.present = len(data) > 0
	p.buf = data
	p.parseChunkData()
	p.buf = nil
}

// parseChunkData parses p.buf as one chunk.
func (p *parser) parseChunkData() {
	buf := p.buf
	if len(buf) < chunkHeaderSize || !bytes.Equal(buf[:8], chunkSignature) {
		if !allZero(buf) {
			if len(buf) < chunkHeaderSize {
				p.warnf(0, "truncated chunk (%d bytes)", len(buf))
			} else {
				p.warnf(0, "bad chunk signature %q, chunk skipped", buf[:8])
			}
		}
		return
	}
	if len(buf) < chunkSize {
		p.warnf(0, "truncated chunk (%d of %d bytes), reading what is present", len(buf), chunkSize)
	}
	crc := crc32.Update(crc32.ChecksumIEEE(buf[:120]), crc32.IEEETable, buf[128:512])
	if want := le32(buf[124:]); crc != want {
		p.warnf(0, "chunk header CRC mismatch (stored %#08x, computed %#08x)", want, crc)
	}
	free := int(le32(buf[48:]))
	limit := free
	if free < chunkHeaderSize || free > chunkSize {
		p.warnf(48, "invalid free space offset %#x, scanning the whole chunk", free)
		limit = len(buf)
	} else if free <= len(buf) {
		if got, want := crc32.ChecksumIEEE(buf[chunkHeaderSize:free]), le32(buf[52:]); got != want {
			p.warnf(52, "event records CRC mismatch (stored %#08x, computed %#08x)", want, got)
		}
	}
	if limit > len(buf) {
		limit = len(buf)
	}

	// Reset per-chunk state.
	clear(p.tmpl)
	clear(p.names)
	p.chunkSteps = 0
	if len(p.intern) > 1<<16 || len(p.nameTab) > 1<<16 {
		// Compiled templates refer to nameTab: drop them together.
		clear(p.intern)
		clear(p.ids)
		p.nameTab = p.nameTab[:0]
		clear(p.xcache)
		p.xcacheBytes = 0
	}
	p.out = p.out[:0]
	p.fl = p.fl[:0]
	p.spans = p.spans[:0]
	p.nodes = 0
	res := p.res

	pos := chunkHeaderSize
	var lastID uint64
	haveID := false
	for pos+recordHeaderSize+4 <= limit {
		if !bytes.Equal(buf[pos:pos+4], recordSignature) {
			if allZero(buf[pos:limit]) {
				break
			}
			p.warnf(pos, "bad event record signature, resynchronising")
			next := p.resync(pos+1, limit)
			if next < 0 {
				break
			}
			pos = next
			continue
		}
		size := int(le32(buf[pos+4:]))
		if size < recordHeaderSize+4 || pos+size > len(buf) || int(le32(buf[pos+size-4:])) != size {
			p.warnf(pos, "corrupt event record (size %d), resynchronising", size)
			next := p.resync(pos+4, limit)
			if next < 0 {
				break
			}
			pos = next
			continue
		}
		lastID, haveID = le64(buf[pos+8:]), true
		p.parseRecord(pos, size)
		pos += size
	}

	// A dirty file's last chunk can have a stale header whose free space
	// offset lags behind the records written after it. Records found there
	// are taken only while their identifiers continue the chunk's sequence;
	// anything else past the free space offset is slack (old data).
	if pos == limit && limit < len(buf) {
		next := le64(buf[24:]) // first event record identifier
		if haveID {
			next = lastID + 1
		}
		n := 0
		for pos+recordHeaderSize+4 <= len(buf) && bytes.Equal(buf[pos:pos+4], recordSignature) {
			size := int(le32(buf[pos+4:]))
			if size < recordHeaderSize+4 || pos+size > len(buf) || int(le32(buf[pos+size-4:])) != size || le64(buf[pos+8:]) != next {
				break
			}
			p.parseRecord(pos, size)
			pos += size
			next++
			n++
		}
		if n > 0 {
			p.warnf(48, "stale chunk header: %d event records found after the free space offset %#x", n, limit)
		}
	}

	// Materialise the records: one string for all values of the chunk.
	s := string(p.out)
	if cap(res.fields) < len(p.fl) {
		res.fields = make([]Field, 0, len(p.fl)+len(p.fl)/4)
	}
	fields := res.fields[:len(p.fl)]
	for i := range p.fl {
		f := &p.fl[i]
		var name string
		if f.name >= 0 {
			name = p.nameTab[f.name]
		} else if name = s[f.nameOff:f.nameEnd]; name == "" {
			name = "Data"
		}
		fields[i] = Field{Name: name, Value: s[f.valOff:f.valEnd]}
	}
	res.fields = fields
	res.records = res.records[:len(p.spans)]
	for i := range p.spans {
		sp := p.spans[i]
		res.records[i].Fields = fields[sp.first:sp.last:sp.last]
	}
}

// resync looks for the next plausible record header in [from, limit).
func (p *parser) resync(from, limit int) int {
	buf := p.buf
	for from+recordHeaderSize+4 <= limit {
		i := bytes.Index(buf[from:limit], recordSignature)
		if i < 0 {
			return -1
		}
		pos := from + i
		if pos+recordHeaderSize+4 > limit {
			return -1
		}
		size := int(le32(buf[pos+4:]))
		if size >= recordHeaderSize+4 && pos+size <= len(buf) && int(le32(buf[pos+size-4:])) == size {
			return pos
		}
		from = pos + 1
	}
	return -1
}

// filetimeToTime converts a FILETIME (100 ns since 1601) to UTC time.
func filetimeToTime(ft uint64) time.Time {
	const epochDiff = 116444736000000000 // 1601 → 1970 in 100 ns
	secs := int64(ft/1e7) - epochDiff/1e7
	nsec := int64(ft%1e7) * 100
	return time.Unix(secs, nsec).UTC()
}

// parseRecord decodes the record at pos and appends it to the result. A
// record whose BinXML cannot be decoded is dropped with a warning.
func (p *parser) parseRecord(pos, size int) {
	buf := p.buf
	fl0, out0 := len(p.fl), len(p.out)
	err := p.safeRender(pos+recordHeaderSize, pos+size-4)
	if err != nil {
		p.fl, p.out = p.fl[:fl0], p.out[:out0]
		p.warnf(pos, "event record %d: %v; record skipped", le64(buf[pos+8:]), err)
		return
	}
	res := p.res
	i := len(res.records)
	if i < cap(res.records) {
		res.records = res.records[:i+1]
	} else {
		res.records = append(res.records, Record{})
	}
	rec := &res.records[i]
	rec.ID = le64(buf[pos+8:])
	rec.Written = filetimeToTime(le64(buf[pos+16:]))
	rec.Chunk = p.chunk
	rec.Offset = p.chunkOff + int64(pos)
	rec.Fields = nil
	p.spans = append(p.spans, recordSpan{fl0, len(p.fl)})
}

// recoverPanics is switched off by the fuzz test so that bugs surface.
var recoverPanics = true

// safeRender renders the record BinXML in [start, end), turning any panic
// (which would be a bug) into an error so one bad record never takes the
// process down.
func (p *parser) safeRender(start, end int) (err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	p.vals = p.vals[:0]
	p.steps = 0
	return p.renderFragment(start, end, wctx{}, 0)
}
