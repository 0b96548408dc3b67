package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-detect/vigil/sigma/condition"
)

// MaxFileSize is the largest rule file accepted. Real rule files are a few
// kilobytes; the limit keeps a hostile file from exhausting memory.
const MaxFileSize = 4 << 20

// ParseFile reads and parses one rule file. See Parse. At most
// MaxFileSize bytes are read, whatever the file's size says: a device or
// a pipe (a rule given as <(...)) is read as a stream and cut there.
func ParseFile(path string) (*File, ErrorList) {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Size() > MaxFileSize {
		return &File{Path: path}, ErrorList{Errorf(Pos{File: path}, "file is %d bytes, larger than the %d-byte limit for rule files", st.Size(), MaxFileSize)}
	}
	data, err := ReadFileLimit(path, MaxFileSize)
	if err != nil {
		return &File{Path: path}, ErrorList{&Error{Pos: Pos{File: path}, Msg: err.Error(), Err: err}}
	}
	return Parse(path, data)
}

// ReadFileLimit reads the file at path, failing when it holds more than
// limit bytes. It counts the bytes it reads rather than trusting the
// file's size, which is 0 for devices (/dev/zero) and pipes, so that no
// file makes it read more than limit+1 bytes.
func ReadFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := limit + 1 // a pipe or a device: room for the most we read
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = min(st.Size(), limit) + 1 // +1 sees a file that grew
	}
	buf := make([]byte, size)
	n, err := io.ReadFull(io.LimitReader(f, limit+1), buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	if n == len(buf) && int64(n) <= limit {
		// The file grew since Stat: read the rest, still capped.
		rest, err := io.ReadAll(io.LimitReader(f, limit+1-int64(n)))
		if err != nil {
			return nil, err
		}
		buf = append(buf, rest...)
		n = len(buf)
	}
	if int64(n) > limit {
		return nil, fmt.Errorf("file holds more than the %d-byte limit", limit)
	}
	return buf[:n], nil
}

// Parse parses the Sigma documents of one file: rules, rule collections
// (action: global, reset, repeat), correlations and filters. It returns what
// parsed cleanly together with every problem found; a document with an
// error is left out of the File, the others are kept.
func Parse(name string, data []byte) (*File, ErrorList) {
	f := &File{Path: name}
	var errs ErrorList
	if len(data) > MaxFileSize {
		return f, ErrorList{Errorf(Pos{File: name}, "file is %d bytes, larger than the %d-byte limit for rule files", len(data), MaxFileSize)}
	}
	if !utf8.Valid(data) {
		line, col := invalidUTF8(data)
		return f, ErrorList{Errorf(Pos{File: name, Line: line, Col: col}, "file is not valid UTF-8")}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var global *yaml.Node
	var previous *yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, yamlError(name, err))
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		p := &parser{file: name}
		if root.Kind != yaml.MappingNode {
			if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
				continue // empty document
			}
			errs = append(errs, Errorf(p.pos(root), "a Sigma document must be a map, not %s", kindName(root)))
			continue
		}
		if action := p.lookup(root, "action"); action != nil {
			switch strings.ToLower(action.Value) {
			case "global":
				global = withoutKey(root, "action")
				continue
			case "reset":
				global = nil
				continue
			case "repeat":
				if previous == nil {
					errs = append(errs, Errorf(p.pos(action), "action: repeat without a previous document to repeat"))
					continue
				}
				root = merge(previous, withoutKey(root, "action"))
			default:
				errs = append(errs, Errorf(p.pos(action), "unknown collection action %q (want global, reset or repeat)", action.Value))
				continue
			}
		} else if global != nil {
			root = merge(global, root)
		}
		previous = root
		p.parseDocument(root, f)
		errs = append(errs, p.errs...)
		f.Warnings = append(f.Warnings, p.warns...)
	}
	return f, errs
}

func invalidUTF8(data []byte) (line, col int) {
	line, col = 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		data = data[size:]
	}
	return line, col
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+):\s*(.*)$`)

func yamlError(name string, err error) *Error {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if yamlParserError(m[2]) {
			// yaml.v3 reports the 0-based line of parser (as opposed
			// to scanner) errors: "[a, b" unclosed on line 6 says
			// "line 5".
			line++
		}
		return &Error{Pos: Pos{File: name, Line: line, Col: 1}, Msg: "invalid YAML: " + m[2], Err: err}
	}
	return &Error{Pos: Pos{File: name}, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: "), Err: err}
}

// yamlParserError reports whether a yaml.v3 message comes from its parser,
// whose line numbers are 0-based, rather than from its scanner.
func yamlParserError(msg string) bool {
	for _, p := range []string{
		"did not find expected key",
		"did not find expected node content",
		"did not find expected '-' indicator",
		"did not find expected ',' or ']'",
		"did not find expected ',' or '}'",
		"did not find expected <document start>",
	} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "a single value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// withoutKey returns a copy of mapping m without key.
func withoutKey(m *yaml.Node, key string) *yaml.Node {
	c := *m
	c.Content = nil
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != key {
			c.Content = append(c.Content, m.Content[i], m.Content[i+1])
		}
	}
	return &c
}

// merge returns base with overlay merged in: maps merge key by key,
// recursively; anything else in overlay replaces what base had.
func merge(base, overlay *yaml.Node) *yaml.Node {
	if base == nil || base.Kind != yaml.MappingNode || overlay.Kind != yaml.MappingNode {
		return overlay
	}
	c := *base
	// The merged map is the overlay's document: locate it there.
	c.Line, c.Column = overlay.Line, overlay.Column
	c.Content = append([]*yaml.Node(nil), base.Content...)
	for i := 0; i+1 < len(overlay.Content); i += 2 {
		k, v := overlay.Content[i], overlay.Content[i+1]
		found := false
		for j := 0; j+1 < len(c.Content); j += 2 {
			if c.Content[j].Value == k.Value {
				c.Content[j] = k // locate the entry where it is overridden
				c.Content[j+1] = merge(c.Content[j+1], v)
				found = true
				break
			}
		}
		if !found {
			c.Content = append(c.Content, k, v)
		}
	}
	return &c
}

type parser struct {
	file  string
	doc   string
	errs  ErrorList
	warns []*Error
}

func (p *parser) pos(n *yaml.Node) Pos { return Pos{File: p.file, Line: n.Line, Col: n.Column} }

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	e := Errorf(p.pos(n), format, args...)
	e.Doc = p.doc
	p.errs = append(p.errs, e)
}

func (p *parser) lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func (p *parser) parseDocument(root *yaml.Node, f *File) {
	before := len(p.errs)
	meta := p.parseMeta(root)
	p.doc = meta.Title
	if p.doc == "" {
		p.doc = meta.ID
	}
	switch {
	case p.lookup(root, "correlation") != nil:
		c := p.parseCorrelation(root, meta)
		if len(p.errs) == before {
			f.Correlations = append(f.Correlations, c)
		}
	case p.lookup(root, "filter") != nil:
		flt := p.parseFilter(root, meta)
		if len(p.errs) == before {
			f.Filters = append(f.Filters, flt)
		}
	default:
		r := p.parseRule(root, meta)
		if len(p.errs) == before {
			f.Rules = append(f.Rules, r)
		}
	}
}

var knownMeta = map[string]bool{
	"title": true, "id": true, "name": true, "status": true, "description": true,
	"author": true, "date": true, "modified": true, "level": true, "references": true,
	"tags": true, "falsepositives": true, "fields": true, "related": true,
	"logsource": true, "detection": true, "correlation": true, "filter": true,
	"license": true, "taxonomy": true, "scope": true, "generate": true,
}

var levels = map[string]bool{"informational": true, "low": true, "medium": true, "high": true, "critical": true}
var statuses = map[string]bool{"stable": true, "test": true, "experimental": true, "deprecated": true, "unsupported": true}

func (p *parser) parseMeta(root *yaml.Node) Meta {
	m := Meta{Pos: p.pos(root)}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "title":
			m.Title = p.str(v, "title")
		case "id":
			m.ID = p.str(v, "id")
		case "name":
			m.Name = p.str(v, "name")
		case "status":
			m.Status = p.str(v, "status")
			if m.Status != "" && !statuses[m.Status] {
				p.errorf(v, "invalid status %q (want stable, test, experimental, deprecated or unsupported)", m.Status)
			}
		case "description":
			m.Description = p.str(v, "description")
		case "author":
			m.Author = p.str(v, "author")
		case "date":
			m.Date = p.str(v, "date")
		case "modified":
			m.Modified = p.str(v, "modified")
		case "level":
			m.Level = p.str(v, "level")
			if m.Level != "" && !levels[m.Level] {
				p.errorf(v, "invalid level %q (want informational, low, medium, high or critical)", m.Level)
			}
		case "references":
			m.References = p.strList(v, "references")
		case "tags":
			m.Tags = p.strList(v, "tags")
		case "falsepositives":
			m.FalsePositives = p.strList(v, "falsepositives")
		case "fields":
			m.Fields = p.strList(v, "fields")
		case "related":
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "related must be a list of {id, type} maps")
				continue
			}
			for _, e := range v.Content {
				if e.Kind != yaml.MappingNode {
					p.errorf(e, "related entries must be {id, type} maps")
					continue
				}
				var r Related
				if n := p.lookup(e, "id"); n != nil {
					r.ID = n.Value
				}
				if n := p.lookup(e, "type"); n != nil {
					r.Type = n.Value
				}
				m.Related = append(m.Related, r)
			}
		default:
			if !knownMeta[k.Value] && k.Value != "action" {
				var x any
				if err := v.Decode(&x); err == nil {
					if m.Custom == nil {
						m.Custom = map[string]any{}
					}
					m.Custom[k.Value] = x
				}
			}
		}
	}
	if m.Title == "" {
		p.errorf(root, "missing title")
	}
	return m
}

func (p *parser) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s must be a single value, not %s", what, kindName(n))
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

func (p *parser) strList(n *yaml.Node, what string) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		return []string{n.Value}
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				p.errorf(e, "%s entries must be single values, not %s", what, kindName(e))
				continue
			}
			out = append(out, e.Value)
		}
		return out
	}
	p.errorf(n, "%s must be a list, not %s", what, kindName(n))
	return nil
}

func (p *parser) parseLogSource(n *yaml.Node) LogSource {
	ls := LogSource{Pos: p.pos(n)}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "logsource must be a map, not %s", kindName(n))
		return ls
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "category":
			ls.Category = p.str(v, "logsource category")
		case "product":
			ls.Product = p.str(v, "logsource product")
		case "service":
			ls.Service = p.str(v, "logsource service")
		case "definition":
			ls.Definition = p.str(v, "logsource definition")
		}
	}
	return ls
}

func (p *parser) parseRule(root *yaml.Node, meta Meta) *Rule {
	r := &Rule{Meta: meta}
	if ls := p.lookup(root, "logsource"); ls != nil {
		r.LogSource = p.parseLogSource(ls)
	} else {
		p.errorf(root, "missing logsource")
	}
	det := p.lookup(root, "detection")
	if det == nil {
		p.errorf(root, "missing detection")
		return r
	}
	r.Detection = p.parseDetection(det, true)
	return r
}

func (p *parser) parseFilter(root *yaml.Node, meta Meta) *Filter {
	f := &Filter{Meta: meta}
	if ls := p.lookup(root, "logsource"); ls != nil {
		f.LogSource = p.parseLogSource(ls)
	}
	fn := p.lookup(root, "filter")
	if fn.Kind != yaml.MappingNode {
		p.errorf(fn, "filter must be a map with rules, selections and a condition")
		return f
	}
	if rn := p.lookup(fn, "rules"); rn != nil {
		f.Rules = p.strList(rn, "filter rules")
	}
	if len(f.Rules) == 0 {
		p.errorf(fn, "filter names no rules (filter.rules)")
	}
	f.Detection = p.parseDetection(withoutKey(fn, "rules"), true)
	return f
}

func (p *parser) parseDetection(n *yaml.Node, needCondition bool) Detection {
	d := Detection{Pos: p.pos(n)}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "detection must be a map of search identifiers and a condition, not %s", kindName(n))
		return d
	}
	var condNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "condition":
			condNode = v
		case "timeframe":
			d.Timeframe = v.Value
		default:
			if d.Search(k.Value) != nil {
				p.errorf(k, "search identifier %q is defined twice", k.Value)
				continue
			}
			if s := p.parseSearch(k, v); s != nil {
				d.Searches = append(d.Searches, s)
			}
		}
	}
	if condNode == nil {
		if needCondition {
			p.errorf(n, "detection has no condition")
		}
		return d
	}
	var conds []*yaml.Node
	switch condNode.Kind {
	case yaml.ScalarNode:
		conds = []*yaml.Node{condNode}
	case yaml.SequenceNode:
		conds = condNode.Content
		if len(conds) == 0 {
			p.errorf(condNode, "condition list is empty")
		}
	default:
		p.errorf(condNode, "condition must be an expression or a list of expressions, not %s", kindName(condNode))
	}
	for _, cn := range conds {
		if cn.Kind != yaml.ScalarNode || cn.Tag == "!!null" || strings.TrimSpace(cn.Value) == "" {
			p.errorf(cn, "condition must be a non-empty expression")
			continue
		}
		c := &Condition{Pos: p.pos(cn), Text: cn.Value}
		text := cn.Value
		if i := strings.IndexByte(text, '|'); i >= 0 {
			agg, ok := p.parseAggregation(cn, text[i+1:], i+1, &d)
			if !ok {
				continue
			}
			if len(conds) > 1 {
				p.errorf(cn, "a Sigma v1 aggregation cannot be combined with other conditions; write a correlation rule")
				continue
			}
			d.Aggregation = agg
			text = text[:i]
		}
		expr, err := condition.Parse(text)
		if err != nil {
			var ce *condition.Error
			pos := c.Pos
			if errors.As(err, &ce) {
				pos = p.offsetPos(cn, ce.Offset)
				e := &Error{Pos: pos, Doc: p.doc, Msg: "condition: " + ce.Msg, Err: err}
				p.errs = append(p.errs, e)
			} else {
				p.errs = append(p.errs, &Error{Pos: pos, Doc: p.doc, Msg: "condition: " + err.Error(), Err: err})
			}
			continue
		}
		c.Expr = expr
		p.warnAnyOf(cn, expr)
		p.checkIdents(cn, expr, &d)
		d.Conditions = append(d.Conditions, c)
	}
	return d
}

// warnAnyOf warns of each "any of" in a condition: read as "1 of", as
// pySigma reads it, but the specification writes "1 of".
func (p *parser) warnAnyOf(cn *yaml.Node, n condition.Node) {
	switch n := n.(type) {
	case *condition.And:
		for _, a := range n.Args {
			p.warnAnyOf(cn, a)
		}
	case *condition.Or:
		for _, a := range n.Args {
			p.warnAnyOf(cn, a)
		}
	case *condition.Not:
		p.warnAnyOf(cn, n.Arg)
	case *condition.Of:
		if n.Any {
			p.warns = append(p.warns, &Error{Pos: p.offsetPos(cn, n.Offset), Doc: p.doc, Msg: "condition: \"any of " + n.Pattern + "\" is read as \"1 of " + n.Pattern + "\" (as pySigma reads it); the Sigma specification writes \"1 of\""})
		}
	}
}

// offsetPos maps a byte offset inside a scalar's value to a file position.
// It is exact for plain and quoted single-line scalars, which is what
// conditions are in practice.
func (p *parser) offsetPos(n *yaml.Node, off int) Pos {
	pos := p.pos(n)
	if n.Style == yaml.SingleQuotedStyle || n.Style == yaml.DoubleQuotedStyle {
		pos.Col++
	}
	if n.Style == yaml.LiteralStyle || n.Style == yaml.FoldedStyle || strings.Contains(n.Value[:min(off, len(n.Value))], "\n") {
		return pos
	}
	pos.Col += utf8.RuneCountInString(n.Value[:min(off, len(n.Value))])
	return pos
}

func (p *parser) checkIdents(cn *yaml.Node, expr condition.Node, d *Detection) {
	var walk func(condition.Node)
	walk = func(x condition.Node) {
		switch x := x.(type) {
		case *condition.And:
			for _, a := range x.Args {
				walk(a)
			}
		case *condition.Or:
			for _, a := range x.Args {
				walk(a)
			}
		case *condition.Not:
			walk(x.Arg)
		case *condition.Ident:
			if d.Search(x.Name) == nil {
				p.errs = append(p.errs, &Error{Pos: p.offsetPos(cn, x.Offset), Doc: p.doc,
					Msg: fmt.Sprintf("condition refers to undefined search identifier %q%s", x.Name, suggest(x.Name, d))})
			}
		case *condition.Of:
			if x.IsThem() {
				for _, s := range d.Searches {
					if !strings.HasPrefix(s.Name, "_") {
						return
					}
				}
				p.errs = append(p.errs, &Error{Pos: p.offsetPos(cn, x.Offset), Doc: p.doc, Msg: "condition uses \"them\" but the detection defines no search identifiers (those starting with _ are not part of them)"})
				return
			}
			for _, s := range d.Searches {
				if condition.MatchPattern(x.Pattern, s.Name) {
					return
				}
			}
			p.errs = append(p.errs, &Error{Pos: p.offsetPos(cn, x.Offset), Doc: p.doc,
				Msg: fmt.Sprintf("pattern %q matches no search identifier", x.Pattern)})
		}
	}
	walk(expr)
}

func suggest(name string, d *Detection) string {
	for _, s := range d.Searches {
		if strings.EqualFold(s.Name, name) {
			return fmt.Sprintf(" (did you mean %q?)", s.Name)
		}
	}
	best, bestD := "", min(3, len(name)/2+1)
	for _, s := range d.Searches {
		if dist := editDistance(strings.ToLower(name), strings.ToLower(s.Name)); dist < bestD {
			best, bestD = s.Name, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func (p *parser) parseSearch(k, v *yaml.Node) *Search {
	s := &Search{Pos: p.pos(k), Name: k.Value}
	switch v.Kind {
	case yaml.MappingNode:
		if sel := p.parseSelection(v); sel != nil {
			s.Alternatives = append(s.Alternatives, sel)
		}
	case yaml.SequenceNode:
		var kw *Item
		for _, e := range v.Content {
			switch e.Kind {
			case yaml.MappingNode:
				if sel := p.parseSelection(e); sel != nil {
					s.Alternatives = append(s.Alternatives, sel)
				}
			case yaml.ScalarNode:
				if kw == nil {
					kw = &Item{Pos: p.pos(e)}
					s.Alternatives = append(s.Alternatives, &Selection{Pos: p.pos(e), Items: []*Item{kw}})
				}
				kw.Values = append(kw.Values, p.value(e))
			default:
				p.errorf(e, "search identifier %q: list entries must be values or maps, not %s", k.Value, kindName(e))
			}
		}
		if len(v.Content) == 0 {
			p.errorf(v, "search identifier %q is an empty list", k.Value)
		}
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			p.errorf(v, "search identifier %q is empty", k.Value)
			return nil
		}
		kw := &Item{Pos: p.pos(v), Values: []*Value{p.value(v)}}
		s.Alternatives = append(s.Alternatives, &Selection{Pos: p.pos(v), Items: []*Item{kw}})
	default:
		p.errorf(v, "search identifier %q must be a map or a list, not %s", k.Value, kindName(v))
		return nil
	}
	return s
}

func (p *parser) parseSelection(m *yaml.Node) *Selection {
	sel := &Selection{Pos: p.pos(m)}
	if len(m.Content) == 0 {
		p.errorf(m, "empty map in detection")
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		it := &Item{Pos: p.pos(k)}
		parts := strings.Split(k.Value, "|")
		it.Field = parts[0]
		col := k.Column + len(parts[0])
		if k.Style == yaml.SingleQuotedStyle || k.Style == yaml.DoubleQuotedStyle {
			col++
		}
		for _, mod := range parts[1:] {
			mpos := Pos{File: p.file, Line: k.Line, Col: col + 1}
			col += len(mod) + 1
			name := strings.ToLower(strings.TrimSpace(mod))
			if alias, ok := modifierAliases[name]; ok {
				name = alias
			}
			if !KnownModifiers[name] {
				e := Errorf(mpos, "unknown modifier %q%s", mod, suggestModifier(name))
				e.Doc = p.doc
				p.errs = append(p.errs, e)
				continue
			}
			it.Modifiers = append(it.Modifiers, Modifier{Pos: mpos, Name: name})
		}
		switch v.Kind {
		case yaml.ScalarNode:
			it.Values = []*Value{p.value(v)}
		case yaml.SequenceNode:
			if len(v.Content) == 0 {
				p.errorf(v, "field %q has an empty list of values", k.Value)
			}
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					p.errorf(e, "field %q: values must be single values, not %s", k.Value, kindName(e))
					continue
				}
				it.Values = append(it.Values, p.value(e))
			}
		default:
			p.errorf(v, "field %q: value must be a single value or a list, not %s", k.Value, kindName(v))
			continue
		}
		sel.Items = append(sel.Items, it)
	}
	return sel
}

func (p *parser) value(n *yaml.Node) *Value {
	v := &Value{Pos: p.pos(n), Text: n.Value}
	if n.Style == yaml.SingleQuotedStyle || n.Style == yaml.DoubleQuotedStyle {
		return v
	}
	switch n.Tag {
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			v.Kind, v.Num = NumberValue, float64(i)
		} else {
			var u uint64
			if err := n.Decode(&u); err == nil {
				v.Kind, v.Num = NumberValue, float64(u)
			}
		}
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil {
			v.Kind, v.Num = NumberValue, f
		}
	case "!!bool":
		v.Kind = BoolValue
	case "!!null":
		v.Kind = NullValue
		v.Text = ""
	}
	return v
}

// KnownModifiers lists the value modifiers of Sigma v2.1, lower-cased.
var KnownModifiers = map[string]bool{
	"contains": true, "startswith": true, "endswith": true, "all": true, "exists": true,
	"cased": true, "neq": true, "windash": true, "re": true, "i": true, "m": true, "s": true,
	"base64": true, "base64offset": true, "utf16le": true, "utf16be": true, "utf16": true,
	"wide": true, "lt": true, "lte": true, "gt": true, "gte": true, "cidr": true,
	"expand": true, "fieldref": true, "minute": true, "hour": true, "day": true,
	"week": true, "month": true, "year": true,
}

// modifierAliases are the long names pySigma accepts for the regular
// expression flags.
var modifierAliases = map[string]string{
	"ignorecase": "i", "multiline": "m", "dotall": "s",
}

func suggestModifier(name string) string {
	best, bestD := "", 3
	for k := range KnownModifiers {
		if len(k) < 3 {
			continue
		}
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var timespanRe = regexp.MustCompile(`^(\d+)([smhdwMy])$`)

// MaxTimespan is the longest timespan ParseTimespan accepts: the longest
// time.Duration.
const MaxTimespan = time.Duration(math.MaxInt64)

// ParseTimespan parses a correlation timespan such as "15s", "5m", "1h",
// "7d". A timespan of 0 or longer than MaxTimespan is refused.
func ParseTimespan(s string) (time.Duration, error) {
	m := timespanRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid timespan %q (want a number and one of s, m, h, d, w, M, y, like 15s or 1h)", s)
	}
	unit := map[string]time.Duration{
		"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour,
		"w": 7 * 24 * time.Hour, "M": 30 * 24 * time.Hour, "y": 365 * 24 * time.Hour,
	}[m[2]]
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err == nil && n == 0 {
		return 0, fmt.Errorf("invalid timespan %q: it must be longer than 0", s)
	}
	// time.Duration counts nanoseconds in an int64: past about 292 years
	// the product would wrap around (213504d became 25 minutes).
	if err != nil || n > int64(MaxTimespan/unit) {
		return 0, fmt.Errorf("timespan %q is longer than the longest supported, %d%s (%s, about 292 years)", s, int64(MaxTimespan/unit), m[2], MaxTimespan.Truncate(time.Second))
	}
	return time.Duration(n) * unit, nil
}

var correlationTypes = map[string]bool{
	"event_count": true, "value_count": true, "temporal": true, "temporal_ordered": true,
	"value_sum": true, "value_avg": true, "value_percentile": true, "value_median": true,
}

func (p *parser) parseCorrelation(root *yaml.Node, meta Meta) *Correlation {
	c := &Correlation{Meta: meta}
	if g := p.lookup(root, "generate"); g != nil {
		c.Generate = p.boolean(g, "generate")
	}
	cn := p.lookup(root, "correlation")
	if cn.Kind != yaml.MappingNode {
		p.errorf(cn, "correlation must be a map, not %s", kindName(cn))
		return c
	}
	var condNode *yaml.Node
	for i := 0; i+1 < len(cn.Content); i += 2 {
		k, v := cn.Content[i], cn.Content[i+1]
		switch k.Value {
		case "type":
			c.Type, c.TypePos = p.str(v, "correlation type"), p.pos(v)
			if !correlationTypes[c.Type] {
				p.errorf(v, "unknown correlation type %q (want event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile or value_median)", c.Type)
			}
		case "rules":
			switch v.Kind {
			case yaml.ScalarNode:
				c.Rules, c.RulesPos = []string{v.Value}, []Pos{p.pos(v)}
			case yaml.SequenceNode:
				for _, e := range v.Content {
					if e.Kind != yaml.ScalarNode {
						p.errorf(e, "correlation rules must be rule ids or names")
						continue
					}
					c.Rules = append(c.Rules, e.Value)
					c.RulesPos = append(c.RulesPos, p.pos(e))
				}
			default:
				p.errorf(v, "correlation rules must be a list of rule ids or names")
			}
		case "group-by":
			c.GroupBy = p.strList(v, "group-by")
		case "timespan", "timeframe":
			d, err := ParseTimespan(v.Value)
			if err != nil {
				p.errorf(v, "%v", err)
			}
			c.Timespan = d
		case "condition":
			condNode = v
		case "field":
			c.Field = p.str(v, "field")
		case "aliases":
			c.Aliases = p.parseAliases(v)
		case "generate":
			c.Generate = p.boolean(v, "generate")
		default:
			p.errorf(k, "unknown correlation attribute %q", k.Value)
		}
	}
	if c.Type == "" {
		p.errorf(cn, "correlation has no type")
	}
	if len(c.Rules) == 0 {
		p.errorf(cn, "correlation refers to no rules")
	}
	if c.Timespan == 0 && p.lookup(cn, "timespan") == nil && p.lookup(cn, "timeframe") == nil {
		p.errorf(cn, "correlation has no timespan")
	}
	if condNode != nil {
		p.parseCorrCondition(condNode, c)
	}
	temporal := c.Type == "temporal" || c.Type == "temporal_ordered"
	if condNode == nil && !temporal {
		p.errorf(cn, "%s correlation has no condition", c.Type)
	}
	if strings.HasPrefix(c.Type, "value_") && c.Field == "" {
		p.errorf(cn, "%s correlation needs a field (condition.field)", c.Type)
	}
	if c.Type == "value_percentile" && c.Percentile == 0 {
		c.Percentile = 50
	}
	if c.Type == "value_median" {
		c.Percentile = 50
	}
	return c
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	switch strings.ToLower(n.Value) {
	case "true", "yes":
		return true
	case "false", "no":
		return false
	}
	p.errorf(n, "%s must be true or false", what)
	return false
}

func (p *parser) parseCorrCondition(n *yaml.Node, c *Correlation) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "correlation condition must be a map like {gte: 10}, not %s", kindName(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "gt", "gte", "lt", "lte", "eq", "neq":
			f, err := strconv.ParseFloat(v.Value, 64)
			if err != nil {
				p.errorf(v, "correlation condition %s needs a number, not %q", k.Value, v.Value)
				continue
			}
			c.Condition = append(c.Condition, CountCondition{Pos: p.pos(k), Op: k.Value, Value: f})
		case "field":
			c.Field = p.str(v, "condition field")
		case "percentile":
			f, err := strconv.ParseFloat(v.Value, 64)
			if err != nil || f < 0 || f > 100 {
				p.errorf(v, "percentile must be a number from 0 to 100")
				continue
			}
			c.Percentile = f
		default:
			p.errorf(k, "unknown correlation condition %q (want gt, gte, lt, lte, eq, neq, field or percentile)", k.Value)
		}
	}
}

func (p *parser) parseAliases(n *yaml.Node) map[string]map[string]string {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "aliases must be a map of alias names to {rule: field} maps")
		return nil
	}
	out := map[string]map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.MappingNode {
			p.errorf(v, "alias %q must map rule references to field names", k.Value)
			continue
		}
		m := map[string]string{}
		for j := 0; j+1 < len(v.Content); j += 2 {
			m[v.Content[j].Value] = v.Content[j+1].Value
		}
		out[k.Value] = m
	}
	return out
}

var aggRe = regexp.MustCompile(`^\s*(\w+)\s*\(\s*([\w.\-]*)\s*\)\s*(?:by\s+([\w.\-]+(?:\s*,\s*[\w.\-]+)*))?\s*(>=|<=|==|!=|>|<|=)\s*(\d+(?:\.\d+)?)\s*(?:#.*)?$`)

// parseAggregation parses the part of a Sigma v1 condition after the pipe.
func (p *parser) parseAggregation(cn *yaml.Node, text string, off int, d *Detection) (*Aggregation, bool) {
	// Point at the aggregation itself, not at the blanks after the pipe.
	off += len(text) - len(strings.TrimLeft(text, " \t"))
	pos := p.offsetPos(cn, off)
	if strings.HasPrefix(strings.TrimSpace(text), "near") {
		p.errs = append(p.errs, &Error{Pos: pos, Doc: p.doc, Msg: "the Sigma v1 \"near\" aggregation is not supported: express it as a temporal correlation rule"})
		return nil, false
	}
	m := aggRe.FindStringSubmatch(text)
	if m == nil {
		p.errs = append(p.errs, &Error{Pos: pos, Doc: p.doc, Msg: fmt.Sprintf("cannot read the Sigma v1 aggregation %q: Sigma v2 expresses aggregations as correlation rules", strings.TrimSpace(text))})
		return nil, false
	}
	fn := strings.ToLower(m[1])
	if fn != "count" && fn != "sum" && fn != "avg" {
		p.errs = append(p.errs, &Error{Pos: pos, Doc: p.doc, Msg: fmt.Sprintf("the Sigma v1 aggregation function %s() has no correlation equivalent (count, sum and avg do); write a correlation rule", fn)})
		return nil, false
	}
	if fn != "count" && m[2] == "" {
		p.errs = append(p.errs, &Error{Pos: pos, Doc: p.doc, Msg: fmt.Sprintf("%s() needs a field", fn)})
		return nil, false
	}
	op := map[string]string{">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "=": "eq", "==": "eq", "!=": "neq"}[m[4]]
	v, _ := strconv.ParseFloat(m[5], 64)
	agg := &Aggregation{Pos: pos, Func: fn, Field: m[2], Cond: CountCondition{Pos: pos, Op: op, Value: v}}
	for _, g := range strings.Split(m[3], ",") {
		if g = strings.TrimSpace(g); g != "" {
			agg.GroupBy = append(agg.GroupBy, g)
		}
	}
	p.warns = append(p.warns, &Error{Pos: pos, Doc: p.doc, Msg: "Sigma v1 aggregation in the condition: loaded as an equivalent correlation rule; Sigma v2 writes this as a correlation rule (type event_count, value_count, value_sum or value_avg)"})
	return agg, true
}
