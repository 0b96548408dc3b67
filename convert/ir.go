// Package convert turns Sigma rules into queries for SIEM back ends. It
// resolves a rule's detection into a back-end-neutral query tree with every
// modifier applied exactly as vigil's engine applies it (package engine),
// applies processing pipelines (field and log-source mapping, in the
// pySigma pipeline format), and hands the tree to a Backend that writes it
// in its query language. A back end refuses, with an *Error naming the
// construct, what its language cannot express with the same meaning.
package convert

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vigil-detect/vigil/sigma"
	"github.com/vigil-detect/vigil/sigma/condition"
)

// Node is a node of a query tree: *And, *Or, *Not or *Cond.
type Node interface{ node() }

// And holds when all its arguments hold.
type And struct{ Args []Node }

// Or holds when any of its arguments holds.
type Or struct{ Args []Node }

// Not negates its argument.
type Not struct{ Arg Node }

func (*And) node()  {}
func (*Or) node()   {}
func (*Not) node()  {}
func (*Cond) node() {}

// Op is the kind of comparison of a Cond.
type Op uint8

// Comparisons.
const (
	OpString Op = iota // Pat matches the value (case-insensitive unless Cased)
	OpNumber           // the value is the number Num (its text Text)
	OpRegex            // Regex (Go RE2 syntax, unanchored search) matches
	OpCIDR             // the value is an IP address in Prefix
	OpExists           // the field is present (Exists) or absent (!Exists)
	OpNull             // the field is absent or null
	OpLT               // numeric comparisons with Num
	OpLTE
	OpGT
	OpGTE
	OpFieldRef // the value equals (or contains, starts, ends with) field Ref's
)

// Anchor says where a fieldref value must occur in the field.
type Anchor uint8

// Anchors of fieldref comparisons.
const (
	Whole Anchor = iota
	Contains
	StartsWith
	EndsWith
)

// Cond is one comparison of a field (or, with Field "", a keyword search
// over the whole event).
type Cond struct {
	Field string
	Op    Op
	Pat   Pattern // OpString
	Cased bool    // OpString, OpFieldRef: case-sensitive
	// Regex is the expression of OpRegex with its flags folded in as a
	// "(?flags)" prefix; RegexFlags lists them (i, m, s).
	Regex      string
	RegexBody  string
	RegexFlags string
	Prefix     netip.Prefix // OpCIDR
	CIDR       string       // OpCIDR as written (masked)
	Exists     bool         // OpExists
	Num        float64      // OpNumber and comparisons
	Text       string       // OpNumber: the number as written
	Ref        string       // OpFieldRef
	RefAnchor  Anchor       // OpFieldRef
	Pos        sigma.Pos
	// Orig is the field name the rule wrote, before pipelines.
	Orig string
}

// TokKind is the kind of a pattern token (sigma.TokenKind; convert's
// patterns never hold dash classes: windash is spelt out into
// alternatives).
type TokKind = sigma.TokenKind

// Pattern tokens.
const (
	Lit  = sigma.TokLiteral // literal text
	Star = sigma.TokAny     // any run of characters
	One  = sigma.TokOne     // exactly one character
)

// Tok is one token of a Pattern.
type Tok = sigma.Token

// Pattern is a Sigma string value after escape processing and modifiers
// (sigma.ParseString, sigma.EncodeValue): literal runs and wildcards. An
// empty pattern matches the empty string.
type Pattern []Tok

// Shape classifies a pattern.
type Shape uint8

// Shapes of patterns.
const (
	ShapeExact    Shape = iota // a literal
	ShapePrefix                // literal*
	ShapeSuffix                // *literal
	ShapeContains              // *literal*
	ShapeAny                   // *
	ShapeGlob                  // anything else
)

// Shape returns the pattern's shape and, for the literal shapes, its
// literal.
func (p Pattern) Shape() (Shape, string) {
	switch {
	case len(p) == 0:
		return ShapeExact, ""
	case len(p) == 1 && p[0].Kind == Lit:
		return ShapeExact, p[0].Lit
	case len(p) == 1 && p[0].Kind == Star:
		return ShapeAny, ""
	case len(p) == 2 && p[0].Kind == Lit && p[1].Kind == Star:
		return ShapePrefix, p[0].Lit
	case len(p) == 2 && p[0].Kind == Star && p[1].Kind == Lit:
		return ShapeSuffix, p[1].Lit
	case len(p) == 3 && p[0].Kind == Star && p[1].Kind == Lit && p[2].Kind == Star:
		return ShapeContains, p[1].Lit
	}
	return ShapeGlob, ""
}

// HasOne reports whether the pattern holds a '?' wildcard.
func (p Pattern) HasOne() bool {
	for _, t := range p {
		if t.Kind == One {
			return true
		}
	}
	return false
}

// HasWildcards reports whether the pattern holds a wildcard.
func (p Pattern) HasWildcards() bool { return sigma.Pattern(p).HasWildcards() }

// Plain returns the literal text of the pattern with wildcards written
// as * and ?.
func (p Pattern) Plain() string { return sigma.Pattern(p).Plain() }

// parsePattern applies Sigma's escaping exactly as package engine does
// (sigma.ParseString).
func parsePattern(s string) Pattern { return Pattern(sigma.ParseString(s, true)) }

func (p Pattern) anchor(lead, trail bool) Pattern {
	return Pattern(sigma.Pattern(p).Anchor(lead, trail).Merge())
}

// Error is a rule a back end cannot convert, with the construct that
// stops it.
type Error = sigma.Error

func errorf(pos sigma.Pos, format string, args ...any) *Error {
	return sigma.Errorf(pos, format, args...)
}

// maxWindash bounds the alternatives one windash value may expand to.
const maxWindash = 125

// builder turns a rule's detection into a query tree.
type builder struct {
	rule *sigma.Rule
}

// Detection returns the query tree of a detection section.
func detectionTree(d *sigma.Detection) (Node, error) {
	if len(d.Conditions) == 0 {
		return nil, errorf(d.Pos, "detection has no condition")
	}
	if d.Aggregation != nil {
		return nil, errorf(d.Aggregation.Pos, "Sigma v1 aggregation (\"| count() ...\"): write it as a correlation rule")
	}
	searches := map[string]Node{}
	var names []string
	for _, s := range d.Searches {
		n, err := searchTree(s)
		if err != nil {
			return nil, err
		}
		searches[s.Name] = n
		names = append(names, s.Name)
	}
	var alts []Node
	for _, c := range d.Conditions {
		n, err := condTree(c, c.Expr, searches, names)
		if err != nil {
			return nil, err
		}
		alts = append(alts, n)
	}
	return simplify(orOf(alts)), nil
}

// condTrees converts the operands of an and or or.
func condTrees(c *sigma.Condition, ns []condition.Node, searches map[string]Node, names []string) ([]Node, error) {
	var args []Node
	for _, a := range ns {
		x, err := condTree(c, a, searches, names)
		if err != nil {
			return nil, err
		}
		args = append(args, x)
	}
	return args, nil
}

func condTree(c *sigma.Condition, n condition.Node, searches map[string]Node, names []string) (Node, error) {
	switch n := n.(type) {
	case *condition.And:
		args, err := condTrees(c, n.Args, searches, names)
		if err != nil {
			return nil, err
		}
		return &And{args}, nil
	case *condition.Or:
		args, err := condTrees(c, n.Args, searches, names)
		if err != nil {
			return nil, err
		}
		return &Or{args}, nil
	case *condition.Not:
		x, err := condTree(c, n.Arg, searches, names)
		if err != nil {
			return nil, err
		}
		return &Not{x}, nil
	case *condition.Ident:
		s, ok := searches[n.Name]
		if !ok {
			return nil, errorf(c.Pos, "condition refers to undefined search identifier %q", n.Name)
		}
		return s, nil
	case *condition.Of:
		var args []Node
		for _, name := range names {
			if !n.Selects(name) {
				continue
			}
			args = append(args, searches[name])
		}
		if len(args) == 0 {
			return nil, errorf(c.Pos, "%s matches no search identifier", n)
		}
		if n.All {
			return &And{args}, nil
		}
		return &Or{args}, nil
	}
	return nil, errorf(c.Pos, "unknown condition node %T", n)
}

func searchTree(s *sigma.Search) (Node, error) {
	var alts []Node
	for _, sel := range s.Alternatives {
		var items []Node
		for _, it := range sel.Items {
			n, err := itemTree(it)
			if err != nil {
				return nil, err
			}
			items = append(items, n)
		}
		alts = append(alts, andOf(items))
	}
	return orOf(alts), nil
}

func andOf(args []Node) Node {
	if len(args) == 1 {
		return args[0]
	}
	return &And{args}
}

func orOf(args []Node) Node {
	if len(args) == 1 {
		return args[0]
	}
	return &Or{args}
}

var stringOnly = []string{"contains", "startswith", "endswith", "windash", "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "expand", "cased"}

// itemTree resolves "field|mods: values" with the semantics of package
// engine (engine/values.go).
func itemTree(it *sigma.Item) (Node, error) {
	mods := map[string]sigma.Modifier{}
	for _, m := range it.Modifiers {
		if _, dup := mods[m.Name]; dup {
			return nil, errorf(m.Pos, "modifier %q given twice", m.Name)
		}
		mods[m.Name] = m
	}
	has := func(m string) bool { _, ok := mods[m]; return ok }
	if err := checkChain(it, mods); err != nil {
		return nil, err
	}
	if len(it.Values) == 0 {
		return nil, errorf(it.Pos, "field %q has no values", it.Field)
	}
	for _, tm := range []string{"minute", "hour", "day", "week", "month", "year"} {
		if has(tm) {
			return nil, errorf(mods[tm].Pos, "modifier %q (time part) has no equivalent in query languages; not converted", tm)
		}
	}
	if has("expand") {
		return nil, errorf(mods["expand"].Pos, "modifier \"expand\": placeholders need values, which vigil convert does not take; not converted")
	}
	if has("exists") {
		if len(it.Values) != 1 {
			return nil, errorf(it.Pos, "exists takes one value, true or false")
		}
		want, err := strconv.ParseBool(strings.ToLower(it.Values[0].Text))
		if err != nil {
			switch strings.ToLower(it.Values[0].Text) {
			case "yes", "on":
				want, err = true, nil
			case "no", "off":
				want, err = false, nil
			}
		}
		if err != nil {
			return nil, errorf(it.Values[0].Pos, "exists takes true or false, not %q", it.Values[0].Text)
		}
		return &Cond{Field: it.Field, Orig: it.Field, Op: OpExists, Exists: want, Pos: it.Pos}, nil
	}
	all := has("all")
	if all && len(it.Values) < 2 && it.Field != "" {
		all = false
	}
	var conds []Node
	nulls := 0
	for _, v := range it.Values {
		if v.Kind == sigma.NullValue {
			nulls++
			continue
		}
		ns, err := valueConds(it, v, has)
		if err != nil {
			return nil, err
		}
		// The alternatives of one value (windash, base64offset) are ORed.
		conds = append(conds, orOf(ns))
	}
	if nulls > 0 && len(conds) > 0 {
		return nil, errorf(it.Pos, "null cannot be mixed with other values in one list; write a separate selection for it")
	}
	var n Node
	switch {
	case nulls > 0:
		n = &Cond{Field: it.Field, Orig: it.Field, Op: OpNull, Pos: it.Pos}
	case len(conds) == 0:
		return nil, errorf(it.Pos, "field %q has no values", it.Field)
	case all:
		n = andOf(conds)
	default:
		n = orOf(conds)
	}
	if has("neq") {
		n = &Not{n}
	}
	return n, nil
}

func checkChain(it *sigma.Item, mods map[string]sigma.Modifier) error {
	has := func(m string) bool { _, ok := mods[m]; return ok }
	groups := [][]string{
		{"lt", "lte", "gt", "gte"},
		{"re", "cidr", "exists", "fieldref"},
		{"contains", "startswith", "endswith"},
		{"utf16le", "utf16be", "utf16", "wide"},
		{"base64", "base64offset"},
	}
	for _, g := range groups {
		var seen []string
		for _, m := range g {
			if has(m) {
				seen = append(seen, m)
			}
		}
		if len(seen) > 1 {
			return errorf(mods[seen[1]].Pos, "modifiers %q and %q cannot be combined", seen[0], seen[1])
		}
	}
	typed := ""
	for _, m := range []string{"re", "cidr", "exists", "lt", "lte", "gt", "gte"} {
		if has(m) {
			if typed != "" && !(isCmp(typed) == false && isCmp(m)) {
				return errorf(mods[m].Pos, "modifiers %q and %q cannot be combined", typed, m)
			}
			if typed == "" {
				typed = m
			}
		}
	}
	if typed != "" {
		for _, m := range stringOnly {
			if has(m) && !(typed == "re" && m == "cased") {
				return errorf(mods[m].Pos, "modifier %q cannot be combined with %q", m, typed)
			}
		}
	}
	for _, f := range []string{"i", "m", "s"} {
		if has(f) && !has("re") {
			return errorf(mods[f].Pos, "modifier %q is a flag of \"re\" and needs it", f)
		}
	}
	if has("fieldref") {
		for _, m := range []string{"windash", "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "expand", "re", "cidr", "lt", "lte", "gt", "gte"} {
			if has(m) {
				return errorf(mods[m].Pos, "modifier %q cannot be combined with \"fieldref\"", m)
			}
		}
	}
	if it.Field == "" {
		for _, m := range []string{"exists", "fieldref", "lt", "lte", "gt", "gte", "cidr"} {
			if has(m) {
				return errorf(mods[m].Pos, "modifier %q needs a field; keyword searches have none", m)
			}
		}
	}
	enc := -1
	for i, m := range it.Modifiers {
		switch m.Name {
		case "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide":
			enc = i
		case "windash", "expand":
			if enc >= 0 {
				return errorf(m.Pos, "modifier %q must come before the encodings", m.Name)
			}
		}
	}
	for i, m := range it.Modifiers {
		if (m.Name == "contains" || m.Name == "startswith" || m.Name == "endswith") && i < enc {
			return errorf(m.Pos, "modifier %q before an encoding would be encoded away; put it after the encoding", m.Name)
		}
	}
	for _, m := range it.Modifiers {
		switch m.Name {
		case "contains", "startswith", "endswith", "all", "windash", "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "expand", "cased",
			"re", "i", "m", "s", "cidr", "exists", "lt", "lte", "gt", "gte", "fieldref", "neq", "minute", "hour", "day", "week", "month", "year":
		default:
			return errorf(m.Pos, "unknown modifier %q", m.Name)
		}
	}
	return nil
}

func isCmp(m string) bool { return m == "lt" || m == "lte" || m == "gt" || m == "gte" }

func valueConds(it *sigma.Item, v *sigma.Value, has func(string) bool) ([]Node, error) {
	base := Cond{Field: it.Field, Orig: it.Field, Pos: v.Pos}
	switch {
	case has("re"):
		flags := ""
		for _, f := range []string{"i", "m", "s"} {
			if has(f) {
				flags += f
			}
		}
		src := v.Text
		if flags != "" {
			src = "(?" + flags + ")" + src
		}
		if _, err := compileRE(src); err != nil {
			return nil, errorf(v.Pos, "bad regular expression: %v", err)
		}
		c := base
		c.Op, c.Regex, c.RegexBody, c.RegexFlags, c.Cased = OpRegex, src, v.Text, flags, true
		return []Node{&c}, nil
	case has("cidr"):
		s := strings.TrimSpace(v.Text)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, errorf(v.Pos, "bad CIDR range %q: %v", v.Text, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		p = p.Masked()
		c := base
		c.Op, c.Prefix, c.CIDR = OpCIDR, p, p.String()
		return []Node{&c}, nil
	case has("fieldref"):
		c := base
		c.Op, c.Ref, c.Cased = OpFieldRef, v.Text, has("cased")
		switch {
		case has("contains"):
			c.RefAnchor = Contains
		case has("startswith"):
			c.RefAnchor = StartsWith
		case has("endswith"):
			c.RefAnchor = EndsWith
		}
		return []Node{&c}, nil
	}
	for _, op := range []struct {
		m  string
		op Op
	}{{"lt", OpLT}, {"lte", OpLTE}, {"gt", OpGT}, {"gte", OpGTE}} {
		if has(op.m) {
			n, ok := parseNumber(v)
			if !ok {
				return nil, errorf(v.Pos, "modifier %q needs a number, not %q", op.m, v.Text)
			}
			c := base
			c.Op, c.Num, c.Text = op.op, n, v.Text
			return []Node{&c}, nil
		}
	}
	hasStr := false
	for _, m := range stringOnly {
		if has(m) {
			hasStr = true
		}
	}
	if v.Kind == sigma.NumberValue && !hasStr && it.Field != "" {
		c := base
		c.Op, c.Num, c.Text = OpNumber, v.Num, v.Text
		return []Node{&c}, nil
	}
	// Strings: windash, then the encodings in the order written, as the
	// engine applies them; the dash classes windash leaves are spelt out
	// into alternatives, as query languages have no such class.
	cur, err := sigma.EncodeValue([]sigma.Pattern{sigma.ParseString(v.Text, true)}, it.Modifiers)
	if err != nil {
		return nil, err
	}
	if cur, err = sigma.ExpandDashes(cur, maxWindash); err != nil {
		pos := v.Pos
		for _, m := range it.Modifiers {
			if m.Name == "windash" {
				pos = m.Pos
			}
		}
		return nil, errorf(pos, "modifier \"windash\" on %q expands to more than %d alternatives; not converted", v.Text, maxWindash)
	}
	keyword := it.Field == ""
	lead := has("contains") || has("endswith")
	trail := has("contains") || has("startswith")
	if keyword && !has("startswith") && !has("endswith") {
		lead, trail = true, true
	}
	var out []Node
	for _, sp := range cur {
		p := Pattern(sp)
		for _, t := range p {
			if t.Kind == Lit && (!utf8.ValidString(t.Lit) || strings.ContainsRune(t.Lit, 0)) {
				return nil, errorf(v.Pos, "value %q becomes binary (NUL or invalid UTF-8) after its encoding modifiers; a query string cannot hold it (add base64 or base64offset after the UTF-16 modifier)", v.Text)
			}
		}
		c := base
		c.Op, c.Pat, c.Cased = OpString, p.anchor(lead, trail), has("cased")
		out = append(out, &c)
	}
	return out, nil
}

func parseNumber(v *sigma.Value) (float64, bool) {
	if v.Kind == sigma.NumberValue {
		return v.Num, true
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v.Text), 64)
	return f, err == nil
}

// simplify flattens nested And/Or nodes and removes double negations.
func simplify(n Node) Node {
	switch n := n.(type) {
	case *And:
		return andOf(flatten(n.Args, func(a Node) ([]Node, bool) {
			x, ok := a.(*And)
			if !ok {
				return nil, false
			}
			return x.Args, true
		}))
	case *Or:
		return orOf(flatten(n.Args, func(a Node) ([]Node, bool) {
			x, ok := a.(*Or)
			if !ok {
				return nil, false
			}
			return x.Args, true
		}))
	case *Not:
		a := simplify(n.Arg)
		if x, ok := a.(*Not); ok {
			return x.Arg
		}
		return &Not{a}
	case *Cond:
		c := *n
		return &c
	}
	return n
}

// flatten simplifies operands and splices in the operands of those that
// are the same operator (inner returns them).
func flatten(args []Node, inner func(Node) ([]Node, bool)) []Node {
	var out []Node
	for _, a := range args {
		a = simplify(a)
		if xs, ok := inner(a); ok {
			out = append(out, xs...)
		} else {
			out = append(out, a)
		}
	}
	return out
}

// Walk calls f for every Cond of the tree.
func Walk(n Node, f func(*Cond)) {
	switch n := n.(type) {
	case *And:
		for _, a := range n.Args {
			Walk(a, f)
		}
	case *Or:
		for _, a := range n.Args {
			Walk(a, f)
		}
	case *Not:
		Walk(n.Arg, f)
	case *Cond:
		f(n)
	}
}

// Rewrite returns the tree with every Cond replaced by f's result.
func Rewrite(n Node, f func(*Cond) (Node, error)) (Node, error) {
	switch n := n.(type) {
	case *And:
		args, err := rewriteArgs(n.Args, f)
		if len(args) == 0 {
			return nil, err
		}
		return &And{args}, nil
	case *Or:
		args, err := rewriteArgs(n.Args, f)
		if len(args) == 0 {
			return nil, err
		}
		return &Or{args}, nil
	case *Not:
		x, err := Rewrite(n.Arg, f)
		if err != nil || x == nil {
			return nil, err
		}
		return &Not{x}, nil
	case *Cond:
		return f(n)
	}
	return nil, fmt.Errorf("convert: unknown node %T", n)
}

// rewriteArgs rewrites the operands of an And or Or, leaving out those
// that become nil. On an error it returns no operands.
func rewriteArgs(args []Node, f func(*Cond) (Node, error)) ([]Node, error) {
	var out []Node
	for _, a := range args {
		x, err := Rewrite(a, f)
		if err != nil {
			return nil, err
		}
		if x != nil {
			out = append(out, x)
		}
	}
	return out, nil
}
