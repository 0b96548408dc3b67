package engine

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/sigma"
)

// matcher tests an event.
type matcher func(e *event.Event) bool

// valueTest tests field i of an event.
type valueTest func(e *event.Event, i int) bool

type itemCompiler struct {
	c    *compiler
	item *sigma.Item
	mods map[string]sigma.Modifier
	// contains collects the literals of values compiled to case-insensitive
	// substring tests alone, and containsVals counts those values: when
	// every value of a field item is one, the item's tests are replaced by
	// one automaton scan of the field (see anyContains).
	contains     []string
	containsVals int
}

func (ic *itemCompiler) has(m string) bool { _, ok := ic.mods[m]; return ok }

func (ic *itemCompiler) errf(pos sigma.Pos, format string, args ...any) error {
	return sigma.Errorf(pos, format, args...)
}

var stringOnly = []string{"contains", "startswith", "endswith", "windash", "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "expand", "cased"}

// compileItem compiles "field|mods: values" into a matcher.
func (c *compiler) compileItem(it *sigma.Item) (matcher, error) {
	if it.Field == "" {
		// A keyword searches every field: readers must keep them all.
		c.schema.Keywords = true
	}
	ic := &itemCompiler{c: c, item: it, mods: map[string]sigma.Modifier{}}
	for _, m := range it.Modifiers {
		if _, dup := ic.mods[m.Name]; dup {
			return nil, sigma.Errorf(m.Pos, "modifier %q given twice", m.Name)
		}
		ic.mods[m.Name] = m
	}
	if err := ic.checkChain(); err != nil {
		return nil, err
	}
	if len(it.Values) == 0 {
		return nil, sigma.Errorf(it.Pos, "field %q has no values", it.Field)
	}
	if ic.has("exists") {
		return ic.exists()
	}
	all := ic.has("all")
	if all && len(it.Values) < 2 && it.Field != "" {
		// Sigma forbids "all" on one value; it is harmless, so accept it.
		all = false
	}
	var tests []valueTest
	var nulls int
	for _, v := range it.Values {
		if v.Kind == sigma.NullValue {
			nulls++
			continue
		}
		t, err := ic.valueTest(v)
		if err != nil {
			return nil, err
		}
		tests = append(tests, t)
	}
	if nulls > 0 && len(tests) > 0 {
		return nil, sigma.Errorf(it.Pos, "null cannot be mixed with other values in one list; write a separate selection for it")
	}
	if it.Field != "" && !all && nulls == 0 && ic.containsVals == len(tests) && len(ic.contains) >= minACLiterals {
		tests = []valueTest{anyContains(ic.contains)}
	}
	var m matcher
	switch {
	case nulls > 0:
		m = ic.null()
	case it.Field == "":
		m = keywordMatcher(tests, all)
	default:
		m = ic.fieldMatcher(tests, all)
	}
	if ic.has("neq") {
		inner := m
		m = func(e *event.Event) bool { return !inner(e) }
	}
	return m, nil
}

// checkChain rejects modifier combinations that have no meaning.
func (ic *itemCompiler) checkChain() error {
	type group struct {
		name string
		mods []string
	}
	exclusive := []group{
		{"comparison", []string{"lt", "lte", "gt", "gte"}},
		{"match type", []string{"re", "cidr", "exists", "lt", "lte", "gt", "gte", "fieldref"}},
		{"anchor", []string{"contains", "startswith", "endswith"}},
		{"utf-16 encoding", []string{"utf16le", "utf16be", "utf16", "wide"}},
		{"base64 encoding", []string{"base64", "base64offset"}},
		{"time part", []string{"minute", "hour", "day", "week", "month", "year"}},
	}
	for _, g := range exclusive {
		// In the order written, so that the error points at the second.
		var seen []string
		for _, m := range ic.item.Modifiers {
			if slices.Contains(g.mods, m.Name) {
				seen = append(seen, m.Name)
			}
		}
		// Comparisons are also match types; only report each pair once.
		if len(seen) > 1 && !(g.name == "match type" && allIn(seen, "lt", "lte", "gt", "gte")) {
			return ic.errf(ic.mods[seen[1]].Pos, "modifiers %q and %q cannot be combined (both set the %s)", seen[0], seen[1], g.name)
		}
	}
	typed := ""
	for _, m := range []string{"re", "cidr", "exists", "lt", "lte", "gt", "gte", "minute", "hour", "day", "week", "month", "year"} {
		if ic.has(m) {
			typed = m
			break
		}
	}
	if typed != "" {
		for _, m := range stringOnly {
			if ic.has(m) && !(typed == "re" && m == "cased") {
				return ic.errf(ic.mods[m].Pos, "modifier %q cannot be combined with %q", m, typed)
			}
		}
	}
	for _, f := range []string{"i", "m", "s"} {
		if ic.has(f) && !ic.has("re") {
			return ic.errf(ic.mods[f].Pos, "modifier %q is a flag of \"re\" and needs it", f)
		}
	}
	if ic.has("exists") && (ic.has("all") || ic.has("neq")) {
		return ic.errf(ic.mods["exists"].Pos, "modifier \"exists\" stands alone")
	}
	for _, tm := range []string{"minute", "hour", "day", "week", "month", "year"} {
		if ic.has(tm) && (ic.has("re") || ic.has("cidr")) {
			return ic.errf(ic.mods[tm].Pos, "time modifier %q cannot be combined with re or cidr", tm)
		}
	}
	if ic.has("fieldref") {
		for _, m := range []string{"windash", "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "expand", "re", "cidr", "lt", "lte", "gt", "gte"} {
			if ic.has(m) {
				return ic.errf(ic.mods[m].Pos, "modifier %q cannot be combined with \"fieldref\"", m)
			}
		}
	}
	if ic.item.Field == "" {
		for _, m := range []string{"exists", "fieldref", "lt", "lte", "gt", "gte", "cidr"} {
			if ic.has(m) {
				return ic.errf(ic.mods[m].Pos, "modifier %q needs a field; keyword searches have none", m)
			}
		}
	}
	// Encodings must come after the anchors would be meaningless, so
	// "contains|base64" is refused: the anchor must follow the encoding.
	enc := -1
	for i, m := range ic.item.Modifiers {
		switch m.Name {
		case "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide":
			enc = i
		case "windash", "expand":
			if enc >= 0 {
				return ic.errf(m.Pos, "modifier %q must come before the encodings", m.Name)
			}
		case "contains", "startswith", "endswith":
			_ = i
		}
	}
	for i, m := range ic.item.Modifiers {
		if (m.Name == "contains" || m.Name == "startswith" || m.Name == "endswith") && i < enc {
			return ic.errf(m.Pos, "modifier %q before an encoding would be encoded away; put it after the encoding (e.g. base64offset|contains)", m.Name)
		}
	}
	return nil
}

func allIn(xs []string, set ...string) bool {
	for _, x := range xs {
		found := false
		for _, s := range set {
			if x == s {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (ic *itemCompiler) exists() (matcher, error) {
	it := ic.item
	if len(it.Values) != 1 {
		return nil, ic.errf(it.Pos, "exists takes one value, true or false")
	}
	want, err := strconv.ParseBool(strings.ToLower(it.Values[0].Text))
	if err != nil {
		return nil, ic.errf(it.Values[0].Pos, "exists takes true or false, not %q", it.Values[0].Text)
	}
	slot := ic.c.slot(it.Field)
	return func(e *event.Event) bool { return e.Has(slot) == want }, nil
}

func (ic *itemCompiler) null() matcher {
	slot := ic.c.slot(ic.item.Field)
	return func(e *event.Event) bool {
		i := e.First(slot)
		if i < 0 {
			return true
		}
		f := &e.Fields[i]
		return f.Kind == event.Null
	}
}

func (ic *itemCompiler) fieldMatcher(tests []valueTest, all bool) matcher {
	slot := ic.c.slot(ic.item.Field)
	any1 := func(e *event.Event, t valueTest) bool {
		for i := e.First(slot); i >= 0; i = e.Next(i) {
			if t(e, i) {
				return true
			}
		}
		return false
	}
	if len(tests) == 1 {
		t := tests[0]
		return func(e *event.Event) bool {
			i := e.First(slot)
			if i < 0 {
				return false
			}
			if t(e, i) {
				return true
			}
			for i = e.Next(i); i >= 0; i = e.Next(i) {
				if t(e, i) {
					return true
				}
			}
			return false
		}
	}
	if all {
		return func(e *event.Event) bool {
			if !e.Has(slot) {
				return false
			}
			for _, t := range tests {
				if !any1(e, t) {
					return false
				}
			}
			return true
		}
	}
	return func(e *event.Event) bool {
		i := e.First(slot)
		if i < 0 {
			return false
		}
		for ; i >= 0; i = e.Next(i) {
			for _, t := range tests {
				if t(e, i) {
					return true
				}
			}
		}
		return false
	}
}

// keywordMatcher searches every field of the event.
func keywordMatcher(tests []valueTest, all bool) matcher {
	anyField := func(e *event.Event, t valueTest) bool {
		for i := range e.Fields {
			if t(e, i) {
				return true
			}
		}
		return false
	}
	if all {
		return func(e *event.Event) bool {
			for _, t := range tests {
				if !anyField(e, t) {
					return false
				}
			}
			return true
		}
	}
	return func(e *event.Event) bool {
		for _, t := range tests {
			if anyField(e, t) {
				return true
			}
		}
		return false
	}
}

// valueTest compiles one value of the item according to its modifiers.
func (ic *itemCompiler) valueTest(v *sigma.Value) (valueTest, error) {
	switch {
	case ic.has("re"):
		return ic.regex(v)
	case ic.has("cidr"):
		return ic.cidr(v)
	case ic.has("fieldref"):
		return ic.fieldref(v)
	}
	for _, tm := range []string{"minute", "hour", "day", "week", "month", "year"} {
		if ic.has(tm) {
			return ic.timePart(tm, v)
		}
	}
	for _, op := range []string{"lt", "lte", "gt", "gte"} {
		if ic.has(op) {
			n, err := number(v)
			if err != nil {
				return nil, ic.errf(v.Pos, "modifier %q needs a number: %v", op, err)
			}
			cmp := comparator(op, n)
			return func(e *event.Event, i int) bool {
				f, ok := parseNumber(e.Fields[i].Str)
				return ok && cmp(f)
			}, nil
		}
	}
	// A keyword is searched for as text anywhere in the event, numbers
	// included; a field holding a number compares numerically.
	if v.Kind == sigma.NumberValue && !ic.hasStringMods() && ic.item.Field != "" {
		return ic.numberEq(v), nil
	}
	return ic.stringTest(v)
}

func (ic *itemCompiler) hasStringMods() bool {
	for _, m := range stringOnly {
		if ic.has(m) {
			return true
		}
	}
	return false
}

func number(v *sigma.Value) (float64, error) {
	if v.Kind == sigma.NumberValue {
		return v.Num, nil
	}
	f, ok := parseNumber(v.Text)
	if !ok {
		return 0, fmt.Errorf("%q is not a number", v.Text)
	}
	return f, nil
}

// parseNumber reads decimal, float and 0x-prefixed hexadecimal numbers.
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		u, err := strconv.ParseUint(s[2:], 16, 64)
		return float64(u), err == nil
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil && !math.IsNaN(f)
}

func comparator(op string, n float64) func(float64) bool {
	switch op {
	case "lt":
		return func(f float64) bool { return f < n }
	case "lte":
		return func(f float64) bool { return f <= n }
	case "gt":
		return func(f float64) bool { return f > n }
	case "gte":
		return func(f float64) bool { return f >= n }
	}
	return func(f float64) bool { return f == n }
}

// numberEq matches a numeric rule value: the field equals its text, or
// holds the same number (decimal or hexadecimal).
func (ic *itemCompiler) numberEq(v *sigma.Value) valueTest {
	text := event.ToLower(v.Text)
	n := v.Num
	if f, ok := parseNumber(text); ok && f == n && canonicalInt(text) {
		// Two different canonical decimal integers of at most 15 digits
		// (exact in a float64) are different numbers: most fields a
		// number is tested on (EventID) hold one, so the common miss
		// needs no parse.
		return func(e *event.Event, i int) bool {
			s := e.Fields[i].Str
			if s == text {
				return true
			}
			if canonicalInt(s) {
				return false
			}
			f, ok := parseNumber(s)
			return ok && f == n
		}
	}
	return func(e *event.Event, i int) bool {
		s := e.Fields[i].Str
		if s == text {
			return true
		}
		f, ok := parseNumber(s)
		return ok && f == n
	}
}

// canonicalInt reports whether s is a decimal integer of 1 to 15 digits
// without a sign, spaces or leading zeros: the one text of its number
// among such strings.
func canonicalInt(s string) bool {
	if len(s) == 0 || len(s) > 15 || s[0] == '0' && len(s) > 1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (ic *itemCompiler) regex(v *sigma.Value) (valueTest, error) {
	flags := ""
	for _, f := range []string{"i", "m", "s"} {
		if ic.has(f) {
			flags += f
		}
	}
	src := v.Text
	if flags != "" {
		src = "(?" + flags + ")" + src
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, ic.errf(v.Pos, "bad regular expression: %w", err)
	}
	ic.c.addRegexLiterals(v, src)
	if guard := regexGuard(src); len(guard) > 0 {
		return func(e *event.Event, i int) bool {
			return guardPasses(guard, e, i) && re.MatchString(e.Fields[i].Str)
		}, nil
	}
	return func(e *event.Event, i int) bool { return re.MatchString(e.Fields[i].Str) }, nil
}

func (ic *itemCompiler) cidr(v *sigma.Value) (valueTest, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(v.Text))
	if err != nil {
		a, aerr := netip.ParseAddr(strings.TrimSpace(v.Text))
		if aerr != nil {
			return nil, ic.errf(v.Pos, "bad CIDR range %q: %w", v.Text, err)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	p = p.Masked()
	return func(e *event.Event, i int) bool {
		a, err := netip.ParseAddr(strings.Trim(e.Fields[i].Str, "[] "))
		if err != nil {
			return false
		}
		if p.Addr().Is4() {
			a = a.Unmap()
		}
		return p.Contains(a.WithZone(""))
	}, nil
}

func (ic *itemCompiler) fieldref(v *sigma.Value) (valueTest, error) {
	other := ic.c.slot(v.Text)
	cased := ic.has("cased")
	var cmp func(a, b string) bool
	switch {
	case ic.has("contains"):
		cmp = strings.Contains
	case ic.has("startswith"):
		cmp = strings.HasPrefix
	case ic.has("endswith"):
		cmp = strings.HasSuffix
	default:
		cmp = func(a, b string) bool { return a == b }
	}
	return func(e *event.Event, i int) bool {
		for j := e.First(other); j >= 0; j = e.Next(j) {
			if cased {
				if cmp(e.Fields[i].Str, e.Fields[j].Str) {
					return true
				}
			} else if cmp(e.Lower(i), e.Lower(j)) {
				return true
			}
		}
		return false
	}, nil
}

func (ic *itemCompiler) timePart(part string, v *sigma.Value) (valueTest, error) {
	n, err := number(v)
	if err != nil {
		return nil, ic.errf(v.Pos, "time modifier %q needs a number: %v", part, err)
	}
	op := "eq"
	for _, o := range []string{"lt", "lte", "gt", "gte"} {
		if ic.has(o) {
			op = o
		}
	}
	cmp := comparator(op, n)
	extract := map[string]func(time.Time) int{
		"minute": time.Time.Minute, "hour": time.Time.Hour, "day": time.Time.Day,
		"week":  func(t time.Time) int { _, w := t.ISOWeek(); return w },
		"month": func(t time.Time) int { return int(t.Month()) },
		"year":  time.Time.Year,
	}[part]
	return func(e *event.Event, i int) bool {
		t, ok := event.ParseTime(e.Fields[i].Str)
		return ok && cmp(float64(extract(t)))
	}, nil
}

// stringTest compiles a string comparison with its transformations.
func (ic *itemCompiler) stringTest(v *sigma.Value) (valueTest, error) {
	variants, err := ic.expandValue(v)
	if err != nil {
		return nil, err
	}
	cased := ic.has("cased")
	keyword := ic.item.Field == ""
	lead := ic.has("contains") || ic.has("endswith")
	trail := ic.has("contains") || ic.has("startswith")
	if keyword && !ic.has("startswith") && !ic.has("endswith") {
		lead, trail = true, true // a keyword occurs anywhere in a value
	}
	pats := make([]pattern, 0, len(variants))
	for _, s := range variants {
		if !cased {
			s = s.mapLit(event.ToLower)
		}
		pats = append(pats, s.anchor(lead, trail).compile())
	}
	if cased {
		// The pre-filter looks for literals in the lower-case text of
		// events: give it the folded form of case-sensitive patterns.
		folded := make([]pattern, len(pats))
		for k := range pats {
			folded[k] = pats[k].folded()
		}
		ic.c.addLiterals(v, folded)
	} else {
		ic.c.addLiterals(v, pats)
	}
	if len(pats) == 0 {
		// An expand placeholder without values: matches nothing.
		return func(*event.Event, int) bool { return false }, nil
	}
	if !keyword && slices.ContainsFunc(pats, func(p pattern) bool { return p.match("") }) {
		// A pattern that matches the empty string ('', '*') must not
		// match a JSON null: null is no string, and has its own value.
		return func(e *event.Event, i int) bool {
			if e.Fields[i].Kind == event.Null {
				return false
			}
			s := e.Fields[i].Str
			if !cased {
				s = e.Lower(i)
			}
			for k := range pats {
				if pats[k].match(s) {
					return true
				}
			}
			return false
		}, nil
	}
	if !cased && !keyword && !slices.ContainsFunc(pats, func(p pattern) bool { return p.kind != patContains || p.lit == "" }) {
		ic.containsVals++
		for _, p := range pats {
			ic.contains = append(ic.contains, p.lit)
		}
	}
	if len(pats) == 1 {
		p := pats[0]
		if cased {
			return func(e *event.Event, i int) bool { return p.match(e.Fields[i].Str) }, nil
		}
		return func(e *event.Event, i int) bool { return p.match(e.Lower(i)) }, nil
	}
	if cased {
		return func(e *event.Event, i int) bool {
			s := e.Fields[i].Str
			for k := range pats {
				if pats[k].match(s) {
					return true
				}
			}
			return false
		}, nil
	}
	return func(e *event.Event, i int) bool {
		s := e.Lower(i)
		for k := range pats {
			if pats[k].match(s) {
				return true
			}
		}
		return false
	}, nil
}

// expandValue applies expand, windash and the encodings, in the order the
// modifiers are written (sigma.EncodeValue), returning the resulting
// alternatives.
func (ic *itemCompiler) expandValue(v *sigma.Value) ([]sigmaString, error) {
	var cur []sigma.Pattern
	if ic.has("expand") {
		vals, err := ic.c.expand(v)
		if err != nil {
			return nil, err
		}
		for _, x := range vals {
			cur = append(cur, sigma.ParseString(x, true))
		}
	} else {
		cur = []sigma.Pattern{sigma.ParseString(v.Text, true)}
	}
	cur, err := sigma.EncodeValue(cur, ic.item.Modifiers)
	if err != nil {
		return nil, err
	}
	out := make([]sigmaString, len(cur))
	for i, p := range cur {
		out[i] = fromSigma(p)
	}
	return out, nil
}

// maxDenseContains is the largest dense automaton (bytes) built for one
// field item's substrings; larger lists use a litSet, a few bytes per
// state, so that the rule set's memory stays small.
const maxDenseContains = 16 << 10

// minACLiterals is the number of substrings from which one automaton scan
// of a field beats a strings.Contains per substring.
const minACLiterals = 3

// anyContains returns a test of whether the lower-case text of a field
// contains any of lits (lower-case, none empty): the same result as a
// strings.Contains per literal, in one pass over the text (see litSet).
func anyContains(lits []string) valueTest {
	var uniq []string
	for _, l := range lits {
		if !slices.Contains(uniq, l) {
			uniq = append(uniq, l)
		}
	}
	states, used := 1, [256]bool{}
	for _, l := range uniq {
		states += len(l)
		for k := 0; k < len(l); k++ {
			used[l[k]] = true
		}
	}
	classes := 1
	for _, u := range used {
		if u {
			classes++
		}
	}
	if states*classes*4 <= maxDenseContains {
		// Small enough for a dense table: one load per byte.
		ac := newAC(uniq)
		return func(e *event.Event, i int) bool {
			if s := e.Fields[i].Str; isASCII(s) {
				return ac.contains(s)
			}
			return ac.contains(e.Lower(i))
		}
	}
	set := newLitSet(uniq)
	return func(e *event.Event, i int) bool {
		if s := e.Fields[i].Str; isASCII(s) {
			return set.containsFold(s)
		}
		return set.containsFold(e.Lower(i))
	}
}
