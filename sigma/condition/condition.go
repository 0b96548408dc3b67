// Package condition parses the condition expressions of Sigma detections
// ("selection and not 1 of filter_*") into a small syntax tree.
//
// The grammar, from least to most binding: or, and, not, "x of pattern",
// parentheses. Keywords are case-insensitive. Positions are byte offsets
// into the condition string so that callers can map them back to the rule
// file's line and column.
package condition

import (
	"fmt"
	"strings"
)

// Node is a node of a condition tree. Implementations are the types of this
// package; Pos is the byte offset of the node's first token.
type Node interface {
	Pos() int
	String() string
	node()
}

// And is a conjunction of two or more operands.
type And struct {
	Offset int
	Args   []Node
}

// Or is a disjunction of two or more operands.
type Or struct {
	Offset int
	Args   []Node
}

// Not negates its operand.
type Not struct {
	Offset int
	Arg    Node
}

// Ident names one search identifier of the detection.
type Ident struct {
	Offset int
	Name   string
}

// Of is "1 of pattern", "all of pattern", "1 of them" or "all of them".
// Pattern is "them" or a search-identifier pattern in which '*' matches any
// run of characters.
type Of struct {
	Offset  int
	All     bool // true for "all of", false for "1 of"
	Pattern string
	// Any is set when the condition wrote "any of", which pySigma reads
	// as "1 of"; the specification writes "1 of".
	Any bool
}

func (n *And) Pos() int   { return n.Offset }
func (n *Or) Pos() int    { return n.Offset }
func (n *Not) Pos() int   { return n.Offset }
func (n *Ident) Pos() int { return n.Offset }
func (n *Of) Pos() int    { return n.Offset }

func (*And) node()   {}
func (*Or) node()    {}
func (*Not) node()   {}
func (*Ident) node() {}
func (*Of) node()    {}

func (n *And) String() string { return join(n.Args, " and ") }
func (n *Or) String() string  { return join(n.Args, " or ") }
func (n *Not) String() string { return "not " + wrap(n.Arg) }
func (n *Ident) String() string {
	return n.Name
}
func (n *Of) String() string {
	q := "1"
	if n.All {
		q = "all"
	}
	return q + " of " + n.Pattern
}

func wrap(n Node) string {
	switch n.(type) {
	case *And, *Or:
		return "(" + n.String() + ")"
	}
	return n.String()
}

func join(args []Node, sep string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = wrap(a)
	}
	return strings.Join(parts, sep)
}

// IsThem reports whether an Of node ranges over all search identifiers.
func (n *Of) IsThem() bool { return strings.EqualFold(n.Pattern, "them") }

// Selects reports whether the search identifier called name is one the
// node ranges over: any identifier not starting with "_" for "them", the
// identifiers matching the pattern otherwise.
func (n *Of) Selects(name string) bool {
	if n.IsThem() {
		return !strings.HasPrefix(name, "_")
	}
	return MatchPattern(n.Pattern, name)
}

// Error is a syntax error at a byte offset of the condition.
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg) }

// MaxDepth bounds the nesting of parentheses and "not" so that hostile input
// cannot exhaust the stack.
const MaxDepth = 200

const aggregationMsg = "aggregation expressions (\"| count() by ...\") were removed in Sigma v2; express them as a correlation rule"

// Parse parses a condition expression.
func Parse(src string) (Node, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	if n := len(toks); n >= 2 && toks[n-2].kind == tPipe {
		return nil, &Error{toks[n-2].off, aggregationMsg}
	}
	p := &parser{toks: toks, src: src}
	n, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tPipe {
			return nil, &Error{t.off, aggregationMsg}
		}
		return nil, &Error{t.off, fmt.Sprintf("unexpected %s", t)}
	}
	return n, nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tAnd
	tOr
	tNot
	tOf
	tOne
	tAll
	tThem
	tLParen
	tRParen
	tPipe
	tBad // a character that cannot start a token
)

type token struct {
	kind tokKind
	text string
	off  int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of condition"
	case tLParen:
		return `"("`
	case tRParen:
		return `")"`
	case tPipe:
		return `"|"`
	case tBad:
		return fmt.Sprintf("character %q", rune(t.text[0]))
	}
	return fmt.Sprintf("%q", t.text)
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '*' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func lex(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == '|':
			// Everything after a pipe is a Sigma v1 aggregation, which has
			// its own syntax ("count() by x > 5"): stop lexing here so that
			// Parse reports the aggregation, not a stray character in it.
			toks = append(toks, token{tPipe, "|", i}, token{tEOF, "", len(src)})
			return toks, nil
		case isIdentByte(c):
			j := i
			for j < len(src) && isIdentByte(src[j]) {
				j++
			}
			w := src[i:j]
			k := tIdent
			switch strings.ToLower(w) {
			case "and":
				k = tAnd
			case "or":
				k = tOr
			case "not":
				k = tNot
			case "of":
				k = tOf
			case "1":
				k = tOne
			case "all":
				k = tAll
			case "them":
				k = tThem
			}
			toks = append(toks, token{k, w, i})
			i = j
		default:
			// Reported when the parser reaches it, so that the first
			// error is the leftmost one.
			toks = append(toks, token{tBad, src[i : i+1], i})
			i++
		}
	}
	toks = append(toks, token{tEOF, "", len(src)})
	return toks, nil
}

type parser struct {
	toks []token
	pos  int
	src  string
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) parseOr(depth int) (Node, error) {
	first, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	args := []Node{first}
	for p.peek().kind == tOr {
		p.next()
		n, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		args = append(args, n)
	}
	if len(args) == 1 {
		return first, nil
	}
	return &Or{Offset: first.Pos(), Args: args}, nil
}

func (p *parser) parseAnd(depth int) (Node, error) {
	first, err := p.parseNot(depth)
	if err != nil {
		return nil, err
	}
	args := []Node{first}
	for p.peek().kind == tAnd {
		p.next()
		n, err := p.parseNot(depth)
		if err != nil {
			return nil, err
		}
		args = append(args, n)
	}
	if len(args) == 1 {
		return first, nil
	}
	return &And{Offset: first.Pos(), Args: args}, nil
}

func (p *parser) parseNot(depth int) (Node, error) {
	if depth > MaxDepth {
		return nil, &Error{p.peek().off, fmt.Sprintf("condition nested deeper than %d levels", MaxDepth)}
	}
	if t := p.peek(); t.kind == tNot {
		p.next()
		arg, err := p.parseNot(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Not{Offset: t.off, Arg: arg}, nil
	}
	return p.parsePrimary(depth)
}

// parseOf reads the "of" after a quantifier and the pattern ("them" or a
// search-identifier pattern) into n, which holds the quantifier.
func (p *parser) parseOf(n *Of) (Node, error) {
	p.next()
	pat := p.next()
	switch pat.kind {
	case tThem:
		n.Pattern = "them"
		return n, nil
	case tIdent, tOne, tAll:
		n.Pattern = pat.text
		return n, nil
	}
	return nil, &Error{pat.off, fmt.Sprintf("expected a search-identifier pattern or \"them\" after \"of\", found %s", pat)}
}

func (p *parser) parsePrimary(depth int) (Node, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		n, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, &Error{c.off, fmt.Sprintf("expected \")\" to close \"(\" at offset %d, found %s", t.off, c)}
		}
		return n, nil
	case tOne, tAll:
		if p.peek().kind != tOf {
			if t.kind == tOne {
				// "1" alone is a (strange) identifier name.
				return &Ident{Offset: t.off, Name: t.text}, nil
			}
			return nil, &Error{p.peek().off, fmt.Sprintf("expected \"of\" after %q, found %s", t.text, p.peek())}
		}
		return p.parseOf(&Of{Offset: t.off, All: t.kind == tAll})
	case tIdent:
		if p.peek().kind == tOf && strings.EqualFold(t.text, "any") {
			// pySigma reads "any of" as "1 of"; so does vigil (the
			// caller warns that the specification writes "1 of").
			return p.parseOf(&Of{Offset: t.off, Any: true})
		}
		if p.peek().kind == tOf {
			return nil, &Error{t.off, fmt.Sprintf("quantifier %q is not supported: use \"1 of\" or \"all of\"", t.text)}
		}
		return &Ident{Offset: t.off, Name: t.text}, nil
	case tEOF:
		return nil, &Error{t.off, "unexpected end of condition: expected a search identifier"}
	}
	return nil, &Error{t.off, fmt.Sprintf("unexpected %s: expected a search identifier, \"not\", \"(\" or \"1 of\"/\"all of\"", t)}
}

// MatchPattern reports whether a search identifier matches an "of" pattern,
// in which '*' matches any run of characters.
func MatchPattern(pattern, name string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == name
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(name, mid)
		if i < 0 {
			return false
		}
		name = name[i+len(mid):]
	}
	return strings.HasSuffix(name, last) && len(name) >= len(last)
}
