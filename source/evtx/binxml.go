package evtx

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// BinXML tokens (the 0x40 bit means "more data follows" for some of them).
const (
	tokEOF           = 0x00
	tokOpenStart     = 0x01
	tokCloseStart    = 0x02
	tokCloseEmpty    = 0x03
	tokEndElement    = 0x04
	tokValue         = 0x05
	tokAttribute     = 0x06
	tokCDATA         = 0x07
	tokCharRef       = 0x08
	tokEntityRef     = 0x09
	tokPITarget      = 0x0a
	tokPIData        = 0x0b
	tokTemplate      = 0x0c
	tokNormalSubst   = 0x0d
	tokOptionalSubst = 0x0e
	tokFragment      = 0x0f
	tokMore          = 0x40
)

const (
	maxDepth      = 64      // element nesting
	maxNest       = 8       // BinXML values / template instances nested in each other
	maxChunkNodes = 1 << 18 // nodes compiled per chunk
	// maxRecordSteps bounds the nodes visited while flattening one record:
	// templates and BinXML values can be referenced many times, so a
	// malicious record could otherwise expand exponentially.
	maxRecordSteps = 1 << 18
	maxChunkOutput = 64 << 20 // bytes of field text per chunk
	maxChunkSteps  = 1 << 22  // nodes visited while flattening a whole chunk
	maxNameLen     = 1024     // characters in an element, attribute or entity name
	// maxCachedTemplates and maxCachedBytes bound the per-worker
	// cross-chunk template cache.
	maxCachedTemplates = 4096
	maxCachedBytes     = 8 << 20
)

var (
	errTruncated     = errors.New("truncated BinXML")
	errTemplateCycle = errors.New("template definition cycle")
	errTooDeep       = errors.New("BinXML nested too deeply")
	errTooManyNodes  = errors.New("too many BinXML nodes in chunk")
	errTooComplex    = errors.New("record expands to too much data")
)

type nodeKind uint8

const (
	nodeElem     nodeKind = iota // element: name, attrs, children
	nodeText                     // literal text: text
	nodeSubst                    // substitution: sub, vtype, optional
	nodeTemplate                 // template instance: tmpl, vals
)

// node is one compiled BinXML item of a template or fragment.
type node struct {
	kind     nodeKind
	optional bool
	vtype    byte
	sub      uint16
	nameID   int32 // p.nameTab index of name (elements) or text (short texts), else -1
	name     string
	text     string
	attrs    []attr
	children []node
	tmpl     *template
	vals     []value

	// Precomputed for elements by finishElement.
	nameAttr  int16 // index of the Name attribute of a Data element, or -1
	attrOnly  bool  // no content, no Name attribute, some non-xmlns attribute
	kidElems  bool  // a child is an element or a template instance
	kidSubsts bool  // a child is a substitution (maybe nested BinXML)
}

// finishElement precomputes what flattening needs to know about e.
func finishElement(e *node) {
	e.nameAttr = -1
	if e.name == "Data" {
		for i := range e.attrs {
			if e.attrs[i].name == "Name" {
				e.nameAttr = int16(i)
				break
			}
		}
	}
	visible := false
	for i := range e.attrs {
		a := &e.attrs[i]
		a.skip = int(e.nameAttr) == i || isXmlns(a.name)
		visible = visible || !isXmlns(a.name)
	}
	e.attrOnly = len(e.children) == 0 && e.nameAttr < 0 && visible
	for i := range e.children {
		switch e.children[i].kind {
		case nodeElem, nodeTemplate:
			e.kidElems = true
		case nodeSubst:
			e.kidSubsts = true
		}
	}
}

type attr struct {
	name    string
	fieldID int32  // p.nameTab index of "<Element>_<name>"
	parts   []node // nodeText and nodeSubst only
	skip    bool   // not a field of its own (xmlns, or Name of a Data element)
}

// template is a compiled template definition, cached per chunk by offset.
type template struct {
	nodes []node
	err   error
	busy  bool
}

// value is one substitution value: its type and where its data lies in the
// chunk.
type value struct {
	typ  byte
	off  int32
	size int32
}

func (p *parser) internBytes(b []byte) string {
	if s, ok := p.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	p.intern[s] = s
	return s
}

// nameID returns the index of the interned string s in p.nameTab, so that
// pending fields can refer to names without holding pointers.
func (p *parser) nameID(s string) int32 {
	if id, ok := p.ids[s]; ok {
		return id
	}
	id := int32(len(p.nameTab))
	p.nameTab = append(p.nameTab, s)
	p.ids[s] = id
	return id
}

// decodeName decodes UTF-16LE b and interns the result.
func (p *parser) decodeName(b []byte) string {
	p.scratch = appendUTF16(p.scratch[:0], b)
	return p.internBytes(p.scratch)
}

func (p *parser) decodeText(b []byte) string {
	p.scratch = appendUTF16(p.scratch[:0], b)
	if len(p.scratch) <= 64 {
		return p.internBytes(p.scratch)
	}
	return string(p.scratch)
}

// readName returns the name referenced by offset off, read at position q
// (just after the offset field). If the name is stored inline at q it is
// skipped and the position after it is returned.
func (p *parser) readName(off uint32, q, end int) (string, int, error) {
	buf := p.buf
	if p.selfOK && q-4 >= p.selfLo {
		// Remember where the (position-dependent) offset field is, so that
		// the compiled template can be matched against a relocated copy.
		p.relocs = append(p.relocs, reloc{pos: int32(q - 4 - p.selfLo)})
	}
	if int64(off) == int64(q) {
		if q+8 > end {
			return "", q, errTruncated
		}
		n := int(le16(buf[q+6:]))
		nq := q + 8 + 2*n + 2
		if nq > end {
			return "", q, errTruncated
		}
		if n > maxNameLen {
			return "", q, fmt.Errorf("name at %#x too long (%d characters)", q, n)
		}
		name := p.decodeName(buf[q+8 : q+8+2*n])
		if name == "" {
			return "", q, fmt.Errorf("empty name at %#x", q)
		}
		return name, nq, nil
	}
	o := int(off)
	if int64(off)+8 > int64(len(buf)) {
		return "", q, fmt.Errorf("name offset %#x out of range", off)
	}
	n := int(le16(buf[o+6:]))
	if o+8+2*n > len(buf) {
		return "", q, fmt.Errorf("name at %#x out of range", off)
	}
	if p.selfOK && (o < p.selfLo || o >= p.selfHi) {
		// A name outside the template being compiled (an earlier record's
		// copy): a relocated template only matches if it finds the same
		// name, also before itself.
		if o >= p.selfLo || o < chunkHeaderSize || len(p.relocs) == 0 {
			p.selfOK = false
		} else {
			p.relocs[len(p.relocs)-1].ext = buf[o+6 : min(o+10+2*n, len(buf))]
		}
	}
	if s, ok := p.names[off]; ok {
		return s, q, nil
	}
	if n > maxNameLen {
		return "", q, fmt.Errorf("name at %#x too long (%d characters)", off, n)
	}
	s := p.decodeName(buf[o+8 : o+8+2*n])
	if s == "" {
		return "", q, fmt.Errorf("empty name at %#x", off)
	}
	p.names[off] = s
	return s, q, nil
}

// validElementHeader reports whether the element start at q (after the
// token) is plausible when read with or without the dependency identifier:
// its name offset must point inline or before the element, inside the chunk.
func (p *parser) validElementHeader(q, end int, withDep bool) bool {
	off := q + 4
	if withDep {
		off += 2
	}
	if off+4 > end {
		return false
	}
	// The data size counts everything after the size field.
	if size := int64(le32(p.buf[off-4:])); int64(off)+size > int64(end) {
		return false
	}
	nameOff := int64(le32(p.buf[off:]))
	if nameOff != int64(off+4) && (nameOff >= int64(off) || nameOff < chunkHeaderSize) {
		return false
	}
	// The name must be a plausible NUL-terminated UTF-16 string.
	if nameOff+8 > int64(len(p.buf)) {
		return false
	}
	o := int(nameOff)
	n := int(le16(p.buf[o+6:]))
	return n > 0 && o+10+2*n <= len(p.buf) && le16(p.buf[o+8+2*n:]) == 0
}

// getTemplate compiles (or returns the cached) template whose definition
// starts at chunk offset defOff.
func (p *parser) getTemplate(defOff uint32, depth int) (*template, error) {
	if t, ok := p.tmpl[defOff]; ok {
		if t.busy {
			return nil, errTemplateCycle
		}
		return t, t.err
	}
	o := int64(defOff)
	if o < chunkHeaderSize || o+24 > int64(len(p.buf)) {
		return nil, fmt.Errorf("template definition offset %#x out of range", defOff)
	}
	size := int64(le32(p.buf[o+20:]))
	start := o + 24
	if start+size > int64(len(p.buf)) {
		return nil, fmt.Errorf("template definition at %#x: size %d out of range", defOff, size)
	}
	// A template compiled in an earlier chunk is reused when this
	// definition is the same apart from where it sits: identical bytes
	// except name offsets, which must point to the same places relative to
	// the definition, and no reference to anything outside it.
	key := tmplKey{size: uint32(size)}
	copy(key.guid[:], p.buf[o+4:o+20])
	body := p.buf[start : start+size]
	if crossChunkCache {
		for _, c := range p.xcache[key] {
			if c.matches(p.buf, body, int(start)) {
				p.tmpl[defOff] = c.t
				return c.t, nil
			}
		}
	}
	saveLo, saveHi := p.selfLo, p.selfHi
	p.selfLo, p.selfHi, p.selfOK = int(start), int(start+size), true
	p.relocs = p.relocs[:0]
	t := &template{busy: true}
	p.tmpl[defOff] = t
	t.nodes, _, t.err = p.parseContent(int(start), int(start+size), depth, false, false)
	t.busy = false
	if t.err != nil {
		t.err = fmt.Errorf("template at %#x: %w", defOff, t.err)
	} else if p.selfOK && crossChunkCache {
		if len(p.xcache) >= maxCachedTemplates || p.xcacheBytes > maxCachedBytes {
			clear(p.xcache)
			p.xcacheBytes = 0
		}
		p.xcacheBytes += len(body)
		c := cachedTemplate{
			body:   append([]byte(nil), body...),
			start:  int(start),
			relocs: make([]reloc, len(p.relocs)),
			t:      t,
		}
		for i, r := range p.relocs {
			c.relocs[i] = reloc{pos: r.pos, ext: bytes.Clone(r.ext)}
		}
		list := p.xcache[key]
		if len(list) >= 4 {
			list = list[1:]
		}
		p.xcache[key] = append(list, c)
	}
	p.selfLo, p.selfHi, p.selfOK = saveLo, saveHi, false
	return t, t.err
}

// crossChunkCache enables reuse of compiled templates across chunks (tests
// switch it off to check that the output does not change).
var crossChunkCache = true

// tmplKey groups template definitions that may be copies of each other.
type tmplKey struct {
	size uint32
	guid [16]byte
}

// cachedTemplate is a compiled template with the definition bytes it came
// from, where they were, and its name offset fields.
type cachedTemplate struct {
	body   []byte
	start  int
	relocs []reloc
	t      *template
}

// reloc is a name offset field at pos (relative to the definition start).
// ext is nil when the name lies inside the definition; otherwise it holds
// the raw name (count, UTF-16, terminator) found before the definition.
type reloc struct {
	pos int32
	ext []byte
}

// matches reports whether body, found at chunk offset start in buf,
// compiles to the same template as c: equal bytes, except that each name
// offset field points either to the same place relative to the definition
// or, for names outside it, to an identical name before the definition.
func (c *cachedTemplate) matches(buf, body []byte, start int) bool {
	if len(body) != len(c.body) {
		return false
	}
	prev := 0
	for _, r := range c.relocs {
		i := int(r.pos)
		if i < prev || i+4 > len(body) || !bytes.Equal(body[prev:i], c.body[prev:i]) {
			return false
		}
		v := int64(le32(body[i:]))
		if r.ext == nil {
			if v-int64(start) != int64(le32(c.body[i:]))-int64(c.start) {
				return false
			}
		} else {
			if v < chunkHeaderSize || v >= int64(start) || v+6+int64(len(r.ext)) > int64(len(buf)) ||
				!bytes.Equal(buf[v+6:v+6+int64(len(r.ext))], r.ext) {
				return false
			}
		}
		prev = i + 4
	}
	return bytes.Equal(body[prev:], c.body[prev:])
}

// parseTemplateInstance parses the template instance token at pos,
// compiling its definition if needed, and appends its values to p.vals.
// It returns the template, the index of its first value in p.vals and the
// position after the instance data.
func (p *parser) parseTemplateInstance(pos, end, depth int) (*template, int, int, error) {
	buf := p.buf
	if pos+10 > end {
		return nil, 0, pos, errTruncated
	}
	defOff := le32(buf[pos+6:])
	q := pos + 10
	if int64(defOff) == int64(q) {
		// Definition stored inline: next offset, GUID, data size, data.
		if q+24 > end {
			return nil, 0, pos, errTruncated
		}
		size := int64(le32(buf[q+20:]))
		if int64(q)+24+size > int64(end) {
			return nil, 0, pos, errTruncated
		}
		q += 24 + int(size)
	}
	t, err := p.getTemplate(defOff, depth)
	if err != nil {
		return nil, 0, pos, err
	}
	if q+4 > end {
		return nil, 0, pos, errTruncated
	}
	count := int64(le32(buf[q:]))
	q += 4
	if count > int64(end-q)/4 {
		return nil, 0, pos, fmt.Errorf("template instance: %d values do not fit", count)
	}
	data := q + 4*int(count)
	base := len(p.vals)
	for i := 0; i < int(count); i++ {
		d := q + 4*i
		size := int(le16(buf[d:]))
		if data+size > end {
			p.vals = p.vals[:base]
			return nil, 0, pos, fmt.Errorf("template instance: value %d out of range", i)
		}
		p.vals = append(p.vals, value{typ: buf[d+2], off: int32(data), size: int32(size)})
		data += size
	}
	return t, base, data, nil
}

// parseContent compiles BinXML tokens from pos until an end-of-fragment
// token (consumed), an end-element token (not consumed, only when inElem) or
// end. noDep tells whether element starts are expected without the
// dependency identifier (inside BinXML substitution values).
func (p *parser) parseContent(pos, end, depth int, noDep, inElem bool) ([]node, int, error) {
	buf := p.buf
	if end > len(buf) {
		end = len(buf)
	}
	var nodes []node
	for pos < end {
		p.nodes++
		if p.nodes > maxChunkNodes {
			return nil, pos, errTooManyNodes
		}
		tok := buf[pos]
		switch tok {
		case tokEOF:
			if inElem {
				return nil, pos, fmt.Errorf("end of fragment inside element at %#x", pos)
			}
			return nodes, pos + 1, nil
		case tokEndElement:
			if !inElem {
				return nil, pos, fmt.Errorf("unexpected end element token at %#x", pos)
			}
			return nodes, pos, nil
		case tokFragment:
			pos += 4
		case tokOpenStart, tokOpenStart | tokMore:
			if depth >= maxDepth {
				return nil, pos, errTooDeep
			}
			n, np, err := p.parseElement(pos, end, depth, noDep)
			if err != nil {
				return nil, pos, err
			}
			nodes = append(nodes, n)
			pos = np
		case tokValue, tokValue | tokMore, tokCDATA, tokCDATA | tokMore:
			n, np, err := p.parseValueText(pos, end)
			if err != nil {
				return nil, pos, err
			}
			nodes = append(nodes, n)
			pos = np
		case tokCharRef, tokCharRef | tokMore, tokEntityRef, tokEntityRef | tokMore:
			n, np, err := p.parseRef(pos, end)
			if err != nil {
				return nil, pos, err
			}
			nodes = append(nodes, n)
			pos = np
		case tokNormalSubst, tokOptionalSubst:
			if pos+4 > end {
				return nil, pos, errTruncated
			}
			nodes = append(nodes, node{kind: nodeSubst, sub: le16(buf[pos+1:]), vtype: buf[pos+3], optional: tok == tokOptionalSubst})
			pos += 4
		case tokPITarget:
			if pos+5 > end {
				return nil, pos, errTruncated
			}
			_, np, err := p.readName(le32(buf[pos+1:]), pos+5, end)
			if err != nil {
				return nil, pos, err
			}
			pos = np
		case tokPIData:
			if pos+3 > end {
				return nil, pos, errTruncated
			}
			np := pos + 3 + 2*int(le16(buf[pos+1:]))
			if np > end {
				return nil, pos, errTruncated
			}
			pos = np
		case tokTemplate:
			if depth >= maxDepth {
				return nil, pos, errTooDeep
			}
			t, base, np, err := p.parseTemplateInstance(pos, end, depth+1)
			p.selfOK = false
			if err != nil {
				return nil, pos, err
			}
			vals := append([]value(nil), p.vals[base:]...)
			p.vals = p.vals[:base]
			nodes = append(nodes, node{kind: nodeTemplate, tmpl: t, vals: vals})
			pos = np
		default:
			return nil, pos, fmt.Errorf("unknown BinXML token %#02x at %#x", tok, pos)
		}
	}
	if inElem {
		return nil, pos, errTruncated
	}
	return nodes, pos, nil
}

func (p *parser) parseElement(pos, end, depth int, noDep bool) (node, int, error) {
	buf := p.buf
	tok := buf[pos]
	q := pos + 1
	withDep := !noDep
	if !p.validElementHeader(q, end, withDep) {
		if !p.validElementHeader(q, end, !withDep) {
			return node{}, pos, fmt.Errorf("invalid element start at %#x", pos)
		}
		withDep = !withDep
	}
	if withDep {
		q += 2
	}
	q += 4 // data size
	nameOff := le32(buf[q:])
	q += 4
	name, q, err := p.readName(nameOff, q, end)
	if err != nil {
		return node{}, pos, err
	}
	e := node{kind: nodeElem, name: name, nameID: p.nameID(name)}
	if tok&tokMore != 0 {
		if q+4 > end {
			return node{}, pos, errTruncated
		}
		q += 4 // attribute list size
		for q < end && buf[q]&^tokMore == tokAttribute {
			if q+5 > end {
				return node{}, pos, errTruncated
			}
			aname, nq, err := p.readName(le32(buf[q+1:]), q+5, end)
			if err != nil {
				return node{}, pos, err
			}
			parts, nq, err := p.parseAttrValue(nq, end)
			if err != nil {
				return node{}, pos, err
			}
			p.scratch = append(append(append(p.scratch[:0], name...), '_'), aname...)
			e.attrs = append(e.attrs, attr{name: aname, fieldID: p.nameID(p.internBytes(p.scratch)), parts: parts})
			q = nq
		}
	}
	if q >= end {
		return node{}, pos, errTruncated
	}
	switch buf[q] {
	case tokCloseEmpty:
		finishElement(&e)
		return e, q + 1, nil
	case tokCloseStart:
		children, nq, err := p.parseContent(q+1, end, depth+1, noDep, true)
		if err != nil {
			return node{}, pos, err
		}
		// parseContent stops on the end element token.
		e.children = children
		finishElement(&e)
		return e, nq + 1, nil
	default:
		return node{}, pos, fmt.Errorf("unexpected token %#02x closing element start at %#x", buf[q], q)
	}
}

// parseAttrValue compiles the value parts of one attribute.
func (p *parser) parseAttrValue(q, end int) ([]node, int, error) {
	buf := p.buf
	var parts []node
	for q < end {
		p.nodes++
		if p.nodes > maxChunkNodes {
			return nil, q, errTooManyNodes
		}
		switch buf[q] {
		case tokValue, tokValue | tokMore, tokCDATA, tokCDATA | tokMore:
			n, nq, err := p.parseValueText(q, end)
			if err != nil {
				return nil, q, err
			}
			parts = append(parts, n)
			q = nq
		case tokCharRef, tokCharRef | tokMore, tokEntityRef, tokEntityRef | tokMore:
			n, nq, err := p.parseRef(q, end)
			if err != nil {
				return nil, q, err
			}
			parts = append(parts, n)
			q = nq
		case tokNormalSubst, tokOptionalSubst:
			if q+4 > end {
				return nil, q, errTruncated
			}
			parts = append(parts, node{kind: nodeSubst, sub: le16(buf[q+1:]), vtype: buf[q+3], optional: buf[q] == tokOptionalSubst})
			q += 4
		default:
			return parts, q, nil
		}
	}
	return parts, q, nil
}

// parseValueText compiles a value text (string type) or CDATA token.
func (p *parser) parseValueText(pos, end int) (node, int, error) {
	buf := p.buf
	q := pos + 1
	if buf[pos]&^tokMore == tokValue {
		if q >= end {
			return node{}, pos, errTruncated
		}
		if t := buf[q]; t != 0x01 {
			return node{}, pos, fmt.Errorf("unsupported value text type %#02x at %#x", t, pos)
		}
		q++
	}
	if q+2 > end {
		return node{}, pos, errTruncated
	}
	n := int(le16(buf[q:]))
	q += 2
	if q+2*n > end {
		return node{}, pos, errTruncated
	}
	p.nodes += n / 32 // decoding cost counts against the compile budget
	text := p.decodeText(buf[q : q+2*n])
	id := int32(-1)
	if len(text) <= 64 {
		id = p.nameID(text) // may name a field (<Data Name="...">)
	}
	return node{kind: nodeText, text: text, nameID: id}, q + 2*n, nil
}

// parseRef compiles a character or entity reference into literal text.
func (p *parser) parseRef(pos, end int) (node, int, error) {
	buf := p.buf
	if buf[pos]&^tokMore == tokCharRef {
		if pos+3 > end {
			return node{}, pos, errTruncated
		}
		r := rune(le16(buf[pos+1:]))
		if !utf8.ValidRune(r) {
			r = utf8.RuneError
		}
		p.scratch = utf8.AppendRune(p.scratch[:0], r)
		return node{kind: nodeText, text: p.internBytes(p.scratch), nameID: -1}, pos + 3, nil
	}
	if pos+5 > end {
		return node{}, pos, errTruncated
	}
	name, q, err := p.readName(le32(buf[pos+1:]), pos+5, end)
	if err != nil {
		return node{}, pos, err
	}
	var s string
	switch name {
	case "lt":
		s = "<"
	case "gt":
		s = ">"
	case "amp":
		s = "&"
	case "quot":
		s = `"`
	case "apos":
		s = "'"
	default:
		s = p.internBytes(append(append(append(p.scratch[:0], '&'), name...), ';'))
	}
	return node{kind: nodeText, text: s, nameID: -1}, q, nil
}
