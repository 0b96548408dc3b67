package evtx

// wctx is the position of the element being flattened.
type wctx struct {
	depth int // 0: document root (Event), 1: section (System, EventData, ...), 2+: below
}

const (
	typeNull   = 0x00
	typeBinXML = 0x21
	typeArray  = 0x80
)

// renderFragment flattens the BinXML fragment in [start, end) into p.fl.
func (p *parser) renderFragment(start, end int, ctx wctx, nest int) error {
	if nest > maxNest {
		return errTooDeep
	}
	buf := p.buf
	if end > len(buf) {
		end = len(buf)
	}
	pos := start
	rendered := false
	for pos < end {
		switch buf[pos] {
		case tokFragment:
			pos += 4
		case tokEOF:
			return nil
		case tokTemplate:
			rendered = true
			t, base, np, err := p.parseTemplateInstance(pos, end, 0)
			if err != nil {
				return err
			}
			vend := len(p.vals)
			err = p.walkNodes(t.nodes, p.vals[base:vend:vend], ctx, nest+1)
			p.vals = p.vals[:base]
			if err != nil {
				return err
			}
			pos = np
		default:
			if rendered {
				// Trailing bytes after the document: ignore them.
				return nil
			}
			rendered = true
			nodes, np, err := p.parseContent(pos, end, ctx.depth, nest > 0, false)
			if err != nil {
				return err
			}
			if err := p.walkNodes(nodes, nil, ctx, nest+1); err != nil {
				return err
			}
			if np < end {
				return nil // parseContent stopped on (and consumed) the end of fragment
			}
			pos = np
		}
	}
	return nil
}

func lookup(vals []value, sub uint16) value {
	if int(sub) < len(vals) {
		return vals[sub]
	}
	return value{}
}

// walkNodes flattens the elements among nodes; text at this level belongs to
// the parent and is handled by emitLeaf.
func (p *parser) walkNodes(nodes []node, vals []value, ctx wctx, nest int) error {
	if nest > maxNest {
		return errTooDeep
	}
	p.steps += len(nodes)
	p.chunkSteps += len(nodes)
	if p.steps > maxRecordSteps || p.chunkSteps > maxChunkSteps || len(p.out) > maxChunkOutput {
		return errTooComplex
	}
	for i := range nodes {
		n := &nodes[i]
		switch n.kind {
		case nodeElem:
			if err := p.walkElem(n, vals, ctx, nest); err != nil {
				return err
			}
		case nodeTemplate:
			if err := p.walkNodes(n.tmpl.nodes, n.vals, ctx, nest+1); err != nil {
				return err
			}
		case nodeSubst:
			v := lookup(vals, n.sub)
			if v.typ == typeBinXML && v.size > 0 {
				if err := p.renderFragment(int(v.off), int(v.off+v.size), ctx, nest+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (p *parser) walkElem(e *node, vals []value, ctx wctx, nest int) error {
	switch ctx.depth {
	case 0:
		if e.name == "Event" {
			return p.walkNodes(e.children, vals, wctx{depth: 1}, nest)
		}
		ctx.depth = 2 // a bare element outside Event: flatten it like UserData content
	case 1:
		// Sections (System, EventData, UserData, RenderingInfo, ...) only
		// contribute their children.
		return p.walkNodes(e.children, vals, wctx{depth: 2}, nest)
	}
	if ctx.depth > maxDepth {
		return errTooDeep
	}
	if hasChildElems(e, vals) {
		return p.walkNodes(e.children, vals, wctx{depth: ctx.depth + 1}, nest)
	}
	p.emitLeaf(e, vals)
	return nil
}

func hasChildElems(e *node, vals []value) bool {
	if e.kidElems {
		return true
	}
	if !e.kidSubsts {
		return false
	}
	for i := range e.children {
		c := &e.children[i]
		if c.kind == nodeSubst {
			if v := lookup(vals, c.sub); v.typ == typeBinXML && v.size > 0 {
				return true
			}
		}
	}
	return false
}

func isXmlns(name string) bool {
	return name == "xmlns" || len(name) > 6 && name[:6] == "xmlns:"
}

// emitLeaf emits the attribute fields and the text field of a leaf element.
func (p *parser) emitLeaf(e *node, vals []value) {
	nameAttr := int(e.nameAttr)
	for i := range e.attrs {
		a := &e.attrs[i]
		if a.skip {
			continue
		}
		start := len(p.out)
		if !p.evalParts(a.parts, vals) {
			p.out = p.out[:start]
			continue
		}
		p.fl = append(p.fl, pendingField{name: a.fieldID, valOff: int32(start), valEnd: int32(len(p.out))})
	}
	if e.attrOnly {
		// An element with attributes and no content yields only its
		// attributes; a bare <Element/> still yields an empty field.
		return
	}
	f := pendingField{name: e.nameID}
	if nameAttr >= 0 {
		a := &e.attrs[nameAttr]
		if len(a.parts) == 1 && a.parts[0].kind == nodeText && a.parts[0].nameID >= 0 {
			if a.parts[0].text != "" {
				f.name = a.parts[0].nameID
			}
		} else {
			// The name is computed (or long): it goes into out with the
			// values; an empty one becomes "Data" when materialised.
			start := len(p.out)
			p.evalParts(a.parts, vals)
			f.name = -1
			f.nameOff, f.nameEnd = int32(start), int32(len(p.out))
		}
	}
	if len(e.children) == 1 && e.children[0].kind == nodeSubst {
		if v := lookup(vals, e.children[0].sub); v.typ&typeArray != 0 {
			p.emitArray(f, v)
			return
		}
	}
	start := len(p.out)
	p.evalParts(e.children, vals)
	f.valOff, f.valEnd = int32(start), int32(len(p.out))
	p.fl = append(p.fl, f)
}

// evalParts appends the text of parts (literal text and substitutions) to
// p.out. It reports false when every part is an optional substitution whose
// value is NULL, i.e. the attribute must be omitted.
func (p *parser) evalParts(parts []node, vals []value) bool {
	present := len(parts) == 0
	for i := range parts {
		n := &parts[i]
		switch n.kind {
		case nodeText:
			p.out = append(p.out, n.text...)
			present = true
		case nodeSubst:
			v := lookup(vals, n.sub)
			if v.typ == typeNull {
				if !n.optional {
					present = true
				}
				continue
			}
			present = true
			if v.typ == typeBinXML {
				continue // nested XML has no textual value here
			}
			p.appendValue(v)
		}
	}
	return present
}

// appendValue appends the textual form of v; array items are joined by ",".
func (p *parser) appendValue(v value) {
	data := p.buf[v.off : v.off+v.size]
	if v.typ&typeArray == 0 {
		p.setOut(appendScalar(p.out, v.typ, data))
		return
	}
	first := true
	forEachItem(v.typ&^typeArray, data, func(item []byte) {
		if !first {
			p.out = append(p.out, ',')
		}
		first = false
		p.setOut(appendScalar(p.out, v.typ&^typeArray, item))
	})
}

// emitArray emits one field per array item, all named like f; an empty
// array yields one empty field.
func (p *parser) emitArray(f pendingField, v value) {
	data := p.buf[v.off : v.off+v.size]
	typ := v.typ &^ typeArray
	n := 0
	forEachItem(typ, data, func(item []byte) {
		p.steps++
		start := len(p.out)
		p.setOut(appendScalar(p.out, typ, item))
		f.valOff, f.valEnd = int32(start), int32(len(p.out))
		p.fl = append(p.fl, f)
		n++
	})
	if n == 0 {
		f.valOff, f.valEnd = int32(len(p.out)), int32(len(p.out))
		p.fl = append(p.fl, f)
	}
}

// setOut stores out, an extension of p.out, back into p.out. When the
// backing array did not move only the length is written: storing the whole
// slice header would cost a GC write barrier for every value.
func (p *parser) setOut(out []byte) {
	if cap(out) == cap(p.out) {
		p.out = p.out[:len(out)]
	} else {
		p.out = out
	}
}
