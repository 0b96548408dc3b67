package convert_test

// Property tests of each target's quoting (issue: injection through
// converted queries). Random values and field names, made of every
// control character, quotes, backslashes, brackets, pipes, every Unicode
// white-space class and the operator words of each language, are
// converted by every target in every format; the query is then read back
// with a tokenizer of the target's own grammar (written below, one per
// target, from the language's lexical rules) and must have exactly the
// tokens of the same query written for a harmless value and field name,
// with the value and the field name coming back out as one literal each,
// equal to what went in. No query may hold a blank line (vigil separates
// queries with one).

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/sigma"
)

// hostileRunes are the characters values and names are made of.
var hostileRunes = func() []rune {
	var rs []rune
	for r := rune(0); r < 0x20; r++ {
		rs = append(rs, r)
	}
	rs = append(rs, 0x7f)
	for r := rune(0x80); r < 0xa0; r++ {
		rs = append(rs, r)
	}
	for r := rune(0); r <= 0x3000; r++ {
		if unicode.IsSpace(r) {
			rs = append(rs, r)
		}
	}
	rs = append(rs, 0x200b, 0x200d, 0x202e, 0xfeff, 0xe0001)
	rs = append(rs, []rune("'\"`\\[]{}()<>|&!^~*?:=/;,#@$%+-._ aZ9éΩ")...)
	return rs
}()

// hostileWords are fragments that are syntax in some target.
var hostileWords = []string{" or true //", "'] or true //", "\n\n", " OR ", "\r\n", "| delete", "*", "\\", "\"", "\n| where 1==1", "AND", "NOT", "]", "[x]"}

// hostileString returns a random string of at least minLen characters;
// half of them printable only (no control or line-breaking character),
// which the targets refuse less often in field names.
func hostileString(r *rand.Rand, minLen int) string {
	printable := r.IntN(2) == 0
	var b strings.Builder
	n := minLen + r.IntN(10)
	for b.Len() < n || utf8.RuneCountInString(b.String()) < minLen {
		if r.IntN(6) == 0 {
			w := hostileWords[r.IntN(len(hostileWords))]
			if !printable || !convert.HasBreaking(w) {
				b.WriteString(w)
			}
			continue
		}
		c := hostileRunes[r.IntN(len(hostileRunes))]
		if !printable || !convert.IsBreaking(c) {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// qtok is a token: its kind, its text (decoded for names and string
// literals) and, for string literals, the text between the quotes as
// written.
type qtok struct{ kind, text, raw string }

type tokenizer func(q string) ([]qtok, error)

// The shape of the queries tested.
const (
	shapeExact = iota
	shapeContains
	shapeFieldRef
	shapeRegex
	shapeCount
)

// quoteCase is one query: a field name, a value (or a second field for
// fieldref) and its shape.
type quoteCase struct {
	shape  int
	f, v   string
	fields bool // the rule lists f in fields:
}

func (c quoteCase) String() string {
	return fmt.Sprintf("{shape %d field %+q value %+q fields %v}", c.shape, c.f, c.v, c.fields)
}

func (c quoteCase) prepared(title string) *convert.Prepared {
	cond := &convert.Cond{Field: c.f, Op: convert.OpString}
	switch c.shape {
	case shapeExact:
		cond.Pat = convert.Pattern{{Kind: convert.Lit, Lit: c.v}}
	case shapeContains:
		cond.Pat = convert.Pattern{{Kind: convert.Star}, {Kind: convert.Lit, Lit: c.v}, {Kind: convert.Star}}
	case shapeFieldRef:
		cond.Op, cond.Ref = convert.OpFieldRef, c.v
	case shapeRegex:
		cond.Op, cond.Regex, cond.RegexBody = convert.OpRegex, regexSource(c.v), regexSource(c.v)
	}
	p := &convert.Prepared{
		Rule: &sigma.Rule{Meta: sigma.Meta{Title: title, ID: "11111111-2222-3333-4444-555555555555", Level: "high", Description: title}},
		Tree: cond, State: map[string]any{"query_table": "T", "data_model_set": "Endpoint.Processes"}, FieldMap: map[string][]string{},
	}
	if c.fields {
		p.Fields = []string{c.f}
	}
	return p
}

// quoteTarget says how to read one target's queries back.
type quoteTarget struct {
	name  string
	tok   tokenizer
	query func(format, out string) (string, error) // the query inside a format's document
	// benign returns the harmless value taking the same path through
	// the target as v (regular expression, case folding, ...).
	benign func(c quoteCase) string
	// want returns the literal the value must come back as, given the
	// literal read back for the benign value; ok false: check with
	// match instead.
	want func(c quoteCase, t qtok) (string, bool)
	// match checks a literal that is a regular expression by meaning.
	refuse func(c quoteCase) bool
}

func jsonQuery(format, out string) (string, error) {
	if format == "default" {
		return out, nil
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return "", err
	}
	switch format {
	case "siem_rule":
		return doc["params"].(map[string]any)["query"].(string), nil
	case "siem_rule_ndjson", "eqlapi":
		return doc["query"].(string), nil
	case "dsl_lucene":
		must := doc["query"].(map[string]any)["bool"].(map[string]any)["must"].([]any)
		return must[0].(map[string]any)["query_string"].(map[string]any)["query"].(string), nil
	case "kibana_ndjson":
		src := doc["attributes"].(map[string]any)["kibanaSavedObjectMeta"].(map[string]any)["searchSourceJSON"].(string)
		var s map[string]any
		if err := json.Unmarshal([]byte(src), &s); err != nil {
			return "", err
		}
		return s["query"].(map[string]any)["query"].(string), nil
	}
	return out, nil
}

// regexSource is a regular expression (Go syntax) matching v, with the
// quotes escaped (\", which Go reads as a quote) as rule authors write
// them.
func regexSource(v string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(v), `"`, `\"`)
}

// luceneRegex is the Lucene regular expression the Elastic targets write
// for case c's expression.
func luceneRegex(c quoteCase) (string, bool) {
	re, err := convert.LuceneRegex(regexSource(c.v))
	if err != nil {
		return "!" + err.Error(), true
	}
	return re, true
}

func hasCase(s string) bool { return strings.ToLower(s) != strings.ToUpper(s) }

// quoteTargets are the targets the quoting tests read back.
func quoteTargets() []quoteTarget {
	return []quoteTarget{
		{
			name: "kql", tok: kqlTokens, query: jsonQuery,
			benign: func(quoteCase) string { return "a" },
			want: func(c quoteCase, _ qtok) (string, bool) {
				if c.shape == shapeRegex {
					return regexSource(c.v), true
				}
				return c.v, true
			},
			refuse: func(c quoteCase) bool { return false },
		},
		{
			name: "lucene", tok: luceneTokens, query: jsonQuery,
			benign: func(c quoteCase) string {
				if strings.HasPrefix(c.v, "<") || strings.HasPrefix(c.v, ">") {
					return "<a" // quoted, so that Elasticsearch does not read a range
				}
				return "a"
			},
			want: func(c quoteCase, t qtok) (string, bool) {
				switch c.shape {
				case shapeContains:
					return luceneStar + c.v + luceneStar, true
				case shapeRegex:
					return luceneRegex(c)
				}
				return c.v, true
			},
			refuse: func(c quoteCase) bool { return c.shape == shapeFieldRef },
		},
		{
			name: "splunk", tok: splunkTokens, query: func(_, out string) (string, error) { return out, nil },
			benign: func(c quoteCase) string {
				if strings.Contains(c.v, "*") || convert.HasBreaking(c.v) {
					return "a*"
				}
				return "a"
			},
			want: func(c quoteCase, _ qtok) (string, bool) {
				if strings.Contains(c.v, "*") || convert.HasBreaking(c.v) || c.shape == shapeRegex {
					return "", false
				}
				if c.shape == shapeContains {
					return "*" + c.v + "*", true
				}
				return c.v, true
			},
			refuse: func(c quoteCase) bool {
				return convert.HasBreaking(c.f) || c.shape == shapeFieldRef && convert.HasBreaking(c.v) ||
					c.fields && !regexp.MustCompile(`^[\w.:@/ -]+$`).MatchString(c.f) || c.fields && strings.TrimSpace(c.f) != c.f
			},
		},
		{
			name: "eql", tok: eqlTokens, query: jsonQuery,
			benign: func(c quoteCase) string {
				if strings.ContainsAny(c.v, "*?") {
					return "a*"
				}
				return "a"
			},
			want: func(c quoteCase, _ qtok) (string, bool) {
				if c.shape == shapeRegex {
					return luceneRegex(c)
				}
				pat := c.prepared("").Tree.(*convert.Cond).Pat
				if strings.ContainsAny(c.v, "*?") {
					re, err := convert.LuceneRegex(convert.PatternRegex(pat, false))
					if err != nil {
						return "!" + err.Error(), true
					}
					return re, true
				}
				return pat.Plain(), true
			},
			refuse: func(c quoteCase) bool { return convert.HasBreaking(c.f) || c.shape == shapeFieldRef },
		},
		{
			name: "esql", tok: esqlTokens, query: jsonQuery,
			benign: func(c quoteCase) string {
				if hasCase(c.v) || c.shape == shapeRegex {
					return "a"
				}
				return "1"
			},
			want: func(c quoteCase, _ qtok) (string, bool) {
				if c.shape == shapeRegex {
					return luceneRegex(c)
				}
				v := strings.ToLower(c.v)
				if c.shape == shapeContains {
					return "*" + strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(v) + "*", true
				}
				return v, true
			},
			refuse: func(c quoteCase) bool {
				return convert.HasBreaking(c.f) || c.shape == shapeFieldRef && convert.HasBreaking(c.v)
			},
		},
	}
}

func TestQuotingProperty(t *testing.T) {
	targets := quoteTargets()
	seed := uint64(20261206)
	r := rand.New(rand.NewPCG(seed, seed))
	iterations := 150
	if testing.Short() {
		iterations = 30
	}
	for _, tg := range targets {
		b, ok := convert.Lookup(tg.name)
		if !ok {
			t.Fatalf("no target %s", tg.name)
		}
		for _, format := range b.Formats() {
			t.Run(tg.name+"/"+format, func(t *testing.T) {
				checked := 0
				for i := 0; i < iterations; i++ {
					c := quoteCase{shape: r.IntN(shapeCount), f: hostileString(r, 1), v: hostileString(r, 1), fields: tg.name == "splunk" && format != "data_model" && r.IntN(2) == 0}
					if c.shape == shapeFieldRef && tg.name == "esql" && c.v == c.f {
						continue
					}
					title := hostileString(r, 1)
					if checkQuoting(t, b, tg, format, c, title) {
						checked++
					}
				}
				if checked < iterations/4 {
					t.Errorf("only %d of %d queries were written (the others refused): the property was hardly tested", checked, iterations)
				}
			})
		}
	}
}

// checkQuoting converts one case and checks it; it reports whether a
// query was written (false: refused as expected).
func checkQuoting(t *testing.T, b convert.Backend, tg quoteTarget, format string, c quoteCase, title string) bool {
	t.Helper()
	write := func(c quoteCase, title string) (string, error) {
		out, err := b.Rule(c.prepared(title), format)
		if err != nil {
			return "", err
		}
		if f, ok := b.(convert.Finisher); ok {
			if doc, ok := f.Finish([]convert.Query{{Title: title, Text: out, Meta: &sigma.Meta{Description: title}}}, format); ok {
				if format != "savedsearches" {
					return yamlQuery(doc, title)
				}
				if strings.Contains(doc, "\n\n\n") || strings.Count(doc, "\n\n") != 1 {
					return "", fmt.Errorf("document has a blank line inside a stanza:\n%s", doc)
				}
				return savedSearch(doc, title)
			}
		}
		return tg.query(format, out)
	}
	q, err := write(c, title)
	if tg.refuse(c) {
		if err == nil {
			t.Errorf("%s/%s: %s: written, want refused:\n%s", tg.name, format, c, q)
		} else if !strings.Contains(err.Error(), tg.name+":") {
			t.Errorf("%s/%s: %s: %v, want a refusal naming the target", tg.name, format, c, err)
		}
		return false
	}
	if err != nil {
		t.Errorf("%s/%s: %s: %v", tg.name, format, c, err)
		return false
	}
	if blankLine(q) {
		t.Errorf("%s/%s: %s: query has a blank line:\n%s", tg.name, format, c, q)
	}
	ben := quoteCase{shape: c.shape, f: "F", v: tg.benign(c), fields: c.fields}
	if c.shape == shapeFieldRef {
		ben.v = "G"
	}
	bq, err := write(ben, "T")
	if err != nil {
		t.Fatalf("%s/%s: benign %s: %v", tg.name, format, ben, err)
	}
	got, err := tg.tok(q)
	if err != nil {
		t.Errorf("%s/%s: %s: %v in\n%s", tg.name, format, c, err, q)
		return true
	}
	want, err := tg.tok(bq)
	if err != nil {
		t.Fatalf("%s/%s: benign query %q: %v", tg.name, format, bq, err)
	}
	if len(got) != len(want) {
		t.Errorf("%s/%s: %s: %d tokens, want %d (as for %q):\n%s\ngot  %q\nwant %q", tg.name, format, c, len(got), len(want), bq, q, got, want)
		return true
	}
	for i, w := range want {
		g := got[i]
		switch {
		case w.text == "F" && (w.kind == "word" || w.kind == "name" || w.kind == "str"):
			if g.kind != "word" && g.kind != "name" && g.kind != "str" || g.text != c.f {
				t.Errorf("%s/%s: %s: field token %d is %q, want the field name %q in\n%s", tg.name, format, c, i, g, c.f, q)
			}
		case c.shape == shapeFieldRef && w.text == "G" && (w.kind == "word" || w.kind == "name" || w.kind == "str"):
			if g.kind != "word" && g.kind != "name" && g.kind != "str" || g.text != c.v {
				t.Errorf("%s/%s: %s: fieldref token %d is %q, want the field name %q in\n%s", tg.name, format, c, i, g, c.v, q)
			}
		case w.kind == "str" || w.kind == "term":
			if g.kind != w.kind {
				t.Errorf("%s/%s: %s: token %d is %q, want a %s in\n%s", tg.name, format, c, i, g, w.kind, q)
				continue
			}
			if w.text == g.text {
				continue // a literal the value does not change (a title, an index)
			}
			lit, ok := tg.want(c, g)
			if !ok {
				checkRegex(t, tg.name+"/"+format, c, g)
			} else if g.text != lit {
				t.Errorf("%s/%s: %s: literal %d reads back as %q, want %q in\n%s", tg.name, format, c, i, g.text, lit, q)
			}
		default:
			if g.kind != w.kind || g.text != w.text {
				t.Errorf("%s/%s: %s: token %d is %q, want %q (as for %q) in\n%s", tg.name, format, c, i, g, w, bq, q)
			}
		}
	}
	return true
}

// blankLine reports whether q has an empty line (lines end with \r\n,
// \n or \r, as some editors and SIEM consoles read them).
func blankLine(q string) bool {
	lines := regexp.MustCompile("\r\n|\r|\n").Split(q, -1)
	for i := 1; i < len(lines)-1; i++ {
		if lines[i] == "" {
			return true
		}
	}
	return false
}

// checkRegex checks a Splunk regular expression literal by meaning: SPL
// hands the escape pairs of the quoted string to PCRE as they are
// (except that \" is a quote), and PCRE reads \x{…} and the rest of what
// vigil writes as Go does.
func checkRegex(t *testing.T, where string, c quoteCase, g qtok) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(g.raw); i++ {
		if g.raw[i] == '\\' && i+1 < len(g.raw) {
			if g.raw[i+1] != '"' {
				b.WriteByte('\\')
			}
			b.WriteByte(g.raw[i+1])
			i++
			continue
		}
		b.WriteByte(g.raw[i])
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		t.Errorf("%s: %s: regular expression %q: %v", where, c, b.String(), err)
		return
	}
	if !re.MatchString(c.v) || c.shape != shapeRegex && !re.MatchString(strings.ToUpper(c.v)) {
		t.Errorf("%s: %s: regular expression %q does not match the value", where, c, b.String())
	}
	if c.shape == shapeExact && (re.MatchString(c.v+"x") || re.MatchString("x"+c.v)) {
		t.Errorf("%s: %s: regular expression %q matches more than the value", where, c, b.String())
	}
}

// yamlQuery reads a YAML rule document (KQL's sentinel_rule) and returns
// its query, checking that the title came through as its name.
func yamlQuery(doc, title string) (string, error) {
	var r struct {
		Name  string `yaml:"name"`
		Query string `yaml:"query"`
	}
	dec := yaml.NewDecoder(strings.NewReader(doc))
	if err := dec.Decode(&r); err != nil {
		return "", fmt.Errorf("YAML document: %v\n%s", err, doc)
	}
	var more any
	if err := dec.Decode(&more); err == nil {
		return "", fmt.Errorf("more than one YAML document:\n%s", doc)
	}
	if r.Name != title && !(len(title) > 256 && r.Name == title[:256]) {
		return "", fmt.Errorf("name %q, want the title %q", r.Name, title)
	}
	return strings.TrimSuffix(r.Query, "\n"), nil
}

// savedSearch reads a savedsearches.conf document as Splunk does
// (stanzas, "key = value" settings, a backslash ending a line continuing
// the value on the next one) and returns the search of the one stanza
// besides [default], checking its header and description.
func savedSearch(doc, title string) (string, error) {
	lines := strings.Split(doc, "\n")
	type stanza struct {
		name     string
		settings map[string]string
	}
	var stanzas []*stanza
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.ContainsAny(l, "\r\u2028\u2029\u0085") {
			return "", fmt.Errorf("line %d has a line break Splunk may read: %q", i+1, l)
		}
		switch {
		case l == "":
		case strings.HasPrefix(l, "["):
			if !strings.HasSuffix(l, "]") || strings.Count(l, "]") != 1 {
				return "", fmt.Errorf("stanza header %q", l)
			}
			stanzas = append(stanzas, &stanza{name: l[1 : len(l)-1], settings: map[string]string{}})
		default:
			k, v, ok := strings.Cut(l, " = ")
			if !ok || len(stanzas) == 0 {
				return "", fmt.Errorf("line %d: not a setting: %q", i+1, l)
			}
			for strings.HasSuffix(v, `\`) && i+1 < len(lines) {
				i++
				v = v[:len(v)-1] + "\n" + lines[i]
			}
			if _, dup := stanzas[len(stanzas)-1].settings[k]; dup {
				return "", fmt.Errorf("setting %q twice", k)
			}
			stanzas[len(stanzas)-1].settings[k] = v
		}
	}
	if len(stanzas) != 2 || stanzas[0].name != "default" {
		return "", fmt.Errorf("%d stanzas, want [default] and the rule's", len(stanzas))
	}
	s := stanzas[1]
	if len(s.settings) != 2 || s.settings["search"] == "" {
		return "", fmt.Errorf("stanza [%s] has settings %q, want description and search", s.name, s.settings)
	}
	if strings.ContainsAny(s.name, "[]") || convert.HasBreaking(s.name) || s.name == "" {
		return "", fmt.Errorf("stanza name %q", s.name)
	}
	// The continuation keeps the line break; vigil writes a space before
	// the backslash.
	return strings.ReplaceAll(s.settings["search"], " \n", "\n"), nil
}

func readQuoted(q string, i int, quote byte, escape func(q string, i int) (string, int, error)) (text, raw string, end int, err error) {
	var b strings.Builder
	j := i + 1
	for j < len(q) {
		switch c := q[j]; {
		case c == quote:
			return b.String(), q[i+1 : j], j + 1, nil
		case c == '\n' || c == '\r':
			return "", "", 0, fmt.Errorf("raw line break in a string at %d", j)
		case c == '\\' && escape != nil:
			s, n, err := escape(q, j)
			if err != nil {
				return "", "", 0, err
			}
			b.WriteString(s)
			j += n
		default:
			b.WriteByte(c)
			j++
		}
	}
	return "", "", 0, fmt.Errorf("unterminated string at %d", i)
}

// kqlTokens reads Kusto: identifiers, bracketed names ['…'] and ["…"],
// string literals ("…" and '…' with backslash escapes, @"…" and @'…'
// verbatim), comments and operators.
func kqlTokens(q string) ([]qtok, error) {
	// Kusto's escapes are EQL's plus \uXXXX and \UXXXXXXXX.
	esc := func(q string, i int) (string, int, error) {
		if i+1 >= len(q) || q[i+1] != 'u' && q[i+1] != 'U' {
			return elasticEscape(q, i)
		}
		n := 4
		if q[i+1] == 'U' {
			n = 8
		}
		if i+2+n > len(q) {
			return "", 0, fmt.Errorf("short \\%c escape", q[i+1])
		}
		v, err := strconv.ParseUint(q[i+2:i+2+n], 16, 32)
		if err != nil {
			return "", 0, err
		}
		return string(rune(v)), 2 + n, nil
	}
	verbatim := func(q string, i int, quote byte) (string, int, error) {
		var b strings.Builder
		for j := i + 1; j < len(q); j++ {
			switch q[j] {
			case '\n', '\r':
				return "", 0, fmt.Errorf("raw line break in a verbatim string")
			case quote:
				if j+1 < len(q) && q[j+1] == quote {
					b.WriteByte(quote)
					j++
					continue
				}
				return b.String(), j + 1, nil
			}
			b.WriteByte(q[j])
		}
		return "", 0, fmt.Errorf("unterminated verbatim string")
	}
	var out []qtok
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(q[i:], "//"):
			return nil, fmt.Errorf("comment at %d", i)
		case strings.HasPrefix(q[i:], "['") || strings.HasPrefix(q[i:], `["`):
			s, _, end, err := readQuoted(q, i+1, q[i+1], esc)
			if err != nil {
				return nil, err
			}
			if end >= len(q) || q[end] != ']' {
				return nil, fmt.Errorf("bracketed name not closed at %d", end)
			}
			out = append(out, qtok{"name", s, ""})
			i = end + 1
		case c == '@' && i+1 < len(q) && (q[i+1] == '"' || q[i+1] == '\''):
			s, end, err := verbatim(q, i+1, q[i+1])
			if err != nil {
				return nil, err
			}
			out = append(out, qtok{"str", s, ""})
			i = end
		case c == '"' || c == '\'':
			s, raw, end, err := readQuoted(q, i, c, esc)
			if err != nil {
				return nil, err
			}
			out = append(out, qtok{"str", s, raw})
			i = end
		case c == '_' || c < utf8.RuneSelf && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c))):
			j := i
			for j < len(q) && (q[j] == '_' || q[j] < utf8.RuneSelf && (unicode.IsLetter(rune(q[j])) || unicode.IsDigit(rune(q[j])))) {
				j++
			}
			out = append(out, qtok{"word", q[i:j], ""})
			i = j
		default:
			op, err := opAt(q, i, []string{"==", "=~", "!=", "!~", "<=", ">=", "|", "(", ")", ",", ";", "=", "<", ">", "-", "+", "."})
			if err != nil {
				return nil, err
			}
			out = append(out, qtok{"op", op, ""})
			i += len(op)
		}
	}
	return out, nil
}

// The unescaped wildcards of a Lucene term, as luceneTokens reads them.
const (
	luceneStar = "\uE000"
	luceneOne  = "\uE001"
)

// luceneTokens reads a Lucene query string as the classic query parser
// does, more strictly: every Unicode white-space, control, line or
// paragraph separator and format character separates terms (analyzers
// may split on them) unless escaped.
func luceneTokens(q string) ([]qtok, error) {
	sep := func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Cf)
	}
	var out []qtok
	for i := 0; i < len(q); {
		r, n := utf8.DecodeRuneInString(q[i:])
		switch {
		case sep(r):
			i += n
		case strings.HasPrefix(q[i:], "&&") || strings.HasPrefix(q[i:], "||"):
			out = append(out, qtok{"op", q[i : i+2], ""})
			i += 2
		case strings.ContainsRune("+-!():^[]{}~", r):
			out = append(out, qtok{"op", string(r), ""})
			i += n
		case r == '"':
			s, raw, end, err := readQuoted(q, i, '"', func(q string, i int) (string, int, error) {
				r, n := utf8.DecodeRuneInString(q[i+1:])
				return string(r), 1 + n, nil
			})
			if err != nil {
				return nil, err
			}
			out = append(out, qtok{"str", s, raw})
			i = end
		case r == '/':
			// A regular expression: up to the next slash not escaped.
			j := i + 1
			for j < len(q) && q[j] != '/' {
				if q[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(q) {
				return nil, fmt.Errorf("unterminated regular expression at %d", i)
			}
			out = append(out, qtok{"term", q[i+1 : j], q[i+1 : j]})
			i = j + 1
		default:
			var b strings.Builder
			j := i
			for j < len(q) {
				r, n := utf8.DecodeRuneInString(q[j:])
				if r == '\\' {
					if j+1 >= len(q) {
						return nil, fmt.Errorf("escape at the end")
					}
					e, m := utf8.DecodeRuneInString(q[j+1:])
					b.WriteRune(e)
					j += 1 + m
					continue
				}
				if sep(r) || strings.ContainsRune(`!():^[]{}~"/`, r) || j == i && strings.ContainsRune("+-", r) {
					break
				}
				switch r {
				case '*':
					b.WriteString(luceneStar)
				case '?':
					b.WriteString(luceneOne)
				default:
					b.WriteRune(r)
				}
				j += n
			}
			word := q[i:j]
			if word == "AND" || word == "OR" || word == "NOT" || word == "TO" {
				out = append(out, qtok{"op", word, ""})
			} else {
				out = append(out, qtok{"term", b.String(), word})
			}
			i = j
		}
	}
	// Field names are terms too.
	for k := range out {
		if out[k].kind == "term" && k+1 < len(out) && out[k+1].text == ":" {
			out[k].kind = "word"
		}
	}
	return out, nil
}

// splunkTokens reads SPL: double-quoted strings (\\ and \" are escapes,
// other backslash pairs are kept as written), single-quoted field names
// in eval expressions, pipes, operators and unquoted words.
func splunkTokens(q string) ([]qtok, error) {
	esc := func(q string, i int) (string, int, error) {
		if i+1 >= len(q) {
			return "", 0, fmt.Errorf("escape at the end")
		}
		if q[i+1] == '\\' || q[i+1] == '"' || q[i+1] == '\'' {
			return q[i+1 : i+2], 2, nil
		}
		return q[i : i+2], 2, nil
	}
	var out []qtok
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '"' || c == '\'':
			s, raw, end, err := readQuoted(q, i, c, esc)
			if err != nil {
				return nil, err
			}
			kind := "str"
			if c == '\'' {
				kind = "name"
			}
			out = append(out, qtok{kind, s, raw})
			i = end
		case strings.HasPrefix(q[i:], "!=") || strings.HasPrefix(q[i:], "<=") || strings.HasPrefix(q[i:], ">="):
			out = append(out, qtok{"op", q[i : i+2], ""})
			i += 2
		case strings.ContainsRune("|=(),[]<>", rune(c)):
			out = append(out, qtok{"op", string(c), ""})
			i++
		default:
			j := i
			for j < len(q) && !strings.ContainsRune(" \t\n\r\"'|=!(),[]<>", rune(q[j])) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected %q at %d", q[i:i+1], i)
			}
			out = append(out, qtok{"word", q[i:j], ""})
			i = j
		}
	}
	return out, nil
}

// elasticEscape reads the backslash escapes of EQL and ES|QL strings.
func elasticEscape(q string, i int) (string, int, error) {
	if i+1 >= len(q) {
		return "", 0, fmt.Errorf("escape at the end")
	}
	switch c := q[i+1]; c {
	case '\\', '"', '\'':
		return string(c), 2, nil
	case 't':
		return "\t", 2, nil
	case 'n':
		return "\n", 2, nil
	case 'r':
		return "\r", 2, nil
	}
	return "", 0, fmt.Errorf("unknown escape \\%c", q[i+1])
}

// elasticTokens reads EQL and ES|QL: identifiers (dotted, @), backquoted
// names (“ for a backquote), double-quoted strings, comments and
// operators.
func elasticTokens(q string, ops []string) ([]qtok, error) {
	ident := func(c byte, first bool) bool {
		return c == '_' || c == '@' || c < utf8.RuneSelf && unicode.IsLetter(rune(c)) || !first && (c == '.' || c < utf8.RuneSelf && unicode.IsDigit(rune(c)))
	}
	var out []qtok
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(q[i:], "//") || strings.HasPrefix(q[i:], "/*"):
			return nil, fmt.Errorf("comment at %d", i)
		case strings.HasPrefix(q[i:], `"""`):
			return nil, fmt.Errorf("triple-quoted string at %d", i)
		case c == '"':
			s, raw, end, err := readQuoted(q, i, '"', elasticEscape)
			if err != nil {
				return nil, err
			}
			out = append(out, qtok{"str", s, raw})
			i = end
		case c == '`':
			var b strings.Builder
			j := i + 1
			for ; j < len(q); j++ {
				if q[j] == '`' {
					if j+1 < len(q) && q[j+1] == '`' {
						b.WriteByte('`')
						j++
						continue
					}
					break
				}
				b.WriteByte(q[j])
			}
			if j >= len(q) {
				return nil, fmt.Errorf("unterminated quoted name at %d", i)
			}
			out = append(out, qtok{"name", b.String(), ""})
			i = j + 1
		case ident(c, true) || c < utf8.RuneSelf && unicode.IsDigit(rune(c)):
			j := i + 1
			for j < len(q) && ident(q[j], false) {
				j++
			}
			out = append(out, qtok{"word", q[i:j], ""})
			i = j
		default:
			op, err := opAt(q, i, ops)
			if err != nil {
				return nil, err
			}
			out = append(out, qtok{"op", op, ""})
			i += len(op)
		}
	}
	return out, nil
}

// opAt returns the first of ops that q has at byte i (ops lists longer
// operators before their prefixes), or an error naming the position.
func opAt(q string, i int, ops []string) (string, error) {
	for _, o := range ops {
		if strings.HasPrefix(q[i:], o) {
			return o, nil
		}
	}
	return "", fmt.Errorf("unexpected %q at %d", q[i:min(i+4, len(q))], i)
}

func eqlTokens(q string) ([]qtok, error) {
	return elasticTokens(q, []string{"==", "!=", "<=", ">=", "like~", ":", "?", "(", ")", ",", "[", "]", "<", ">", "~"})
}

func esqlTokens(q string) ([]qtok, error) {
	return elasticTokens(q, []string{"==", "!=", "<=", ">=", "|", "(", ")", ",", "*", "<", ">", "="})
}

// FuzzQuoting: any field name and value, in every target's default
// format and every shape, reads back as one literal (or is refused where
// the target cannot quote it).
func FuzzQuoting(f *testing.F) {
	f.Add("F", "a", uint8(0))
	f.Add(`x\'] or true //`, "a\n\nb", uint8(1))
	f.Add("CommandLine | delete", "a\nOR\nb", uint8(2))
	f.Add("NOT", "\u3000\t\r", uint8(3))
	f.Fuzz(func(t *testing.T, field, value string, shape uint8) {
		if field == "" || value == "" || !utf8.ValidString(field) || !utf8.ValidString(value) {
			return
		}
		c := quoteCase{shape: int(shape) % shapeCount, f: field, v: value}
		if c.shape == shapeFieldRef && field == value {
			return
		}
		for _, tg := range quoteTargets() {
			b, _ := convert.Lookup(tg.name)
			checkQuoting(t, b, tg, "default", c, "T")
		}
	})
}

// TestQuotingIssueProbes are the probes of the issue that found the
// injections, as regressions.
func TestQuotingIssueProbes(t *testing.T) {
	cases := []struct {
		target string
		c      quoteCase
		title  string
		format string
	}{
		{"kql", quoteCase{shape: shapeExact, f: `x\'] or true //`, v: "a"}, "T", "default"},
		{"kql", quoteCase{shape: shapeExact, f: "F", v: "a\n\nb"}, "T", "default"},
		{"lucene", quoteCase{shape: shapeExact, f: "F", v: "a\nOR\nb"}, "T", "default"},
		{"lucene", quoteCase{shape: shapeExact, f: "a\tOR\u3000b", v: "x\ry"}, "T", "default"},
		{"splunk", quoteCase{shape: shapeExact, f: "CommandLine | delete", v: "a", fields: true}, "T", "default"},
		{"splunk", quoteCase{shape: shapeExact, f: "F", v: "a\n\nb"}, "T", "default"},
		{"splunk", quoteCase{shape: shapeFieldRef, f: "F", v: "a') OR 1=1 OR ('"}, "T", "default"},
		{"splunk", quoteCase{shape: shapeExact, f: "F", v: `a\"b`}, "x]\naction.script = 1\n[y", "savedsearches"},
	}
	for _, k := range cases {
		b, _ := convert.Lookup(k.target)
		var tg quoteTarget
		switch k.target {
		case "kql":
			tg = quoteTarget{name: "kql", tok: kqlTokens, query: jsonQuery, benign: func(quoteCase) string { return "a" },
				want: func(c quoteCase, _ qtok) (string, bool) { return c.v, true }, refuse: func(quoteCase) bool { return false }}
		case "lucene":
			tg = quoteTarget{name: "lucene", tok: luceneTokens, query: jsonQuery, benign: func(quoteCase) string { return "a" },
				want: func(c quoteCase, _ qtok) (string, bool) { return c.v, true }, refuse: func(quoteCase) bool { return false }}
		case "splunk":
			tg = quoteTarget{name: "splunk", tok: splunkTokens, query: func(_, out string) (string, error) { return out, nil },
				benign: func(c quoteCase) string {
					if convert.HasBreaking(c.v) {
						return "a*"
					}
					return "a"
				},
				want:   func(c quoteCase, _ qtok) (string, bool) { return c.v, !convert.HasBreaking(c.v) },
				refuse: func(c quoteCase) bool { return c.fields }}
		}
		checkQuoting(t, b, tg, k.format, k.c, k.title)
	}
}

// TestQuotingNamesAndState: names that are keywords, and what pipelines
// put into queries (tables, time fields, index patterns, data models).
func TestQuotingNamesAndState(t *testing.T) {
	rule := func(f string, state map[string]any) *convert.Prepared {
		p := quoteCase{shape: shapeExact, f: f, v: "x"}.prepared("T")
		p.State = state
		return p
	}
	kql, _ := convert.Lookup("kql")
	for _, tc := range []struct {
		p    *convert.Prepared
		want string
	}{
		{rule("and", map[string]any{"query_table": "T"}), "T\n| where ['and'] =~ @\"x\""},
		{rule("true", map[string]any{"query_table": "T"}), "T\n| where ['true'] =~ @\"x\""},
		{rule("F", map[string]any{"query_table": "T | where true //"}), "['T | where true //']\n| where F =~ @\"x\""},
		{rule("F", map[string]any{"query_table": "where"}), "['where']\n| where F =~ @\"x\""},
	} {
		got, err := kql.Rule(tc.p, "default")
		if err != nil || got != tc.want {
			t.Errorf("kql: %q, %v; want %q", got, err, tc.want)
		}
		if toks, err := kqlTokens(got); err != nil || toks[0].kind != "word" && toks[0].kind != "name" {
			t.Errorf("kql: %q does not start with one table name: %q %v", got, toks, err)
		}
	}
	esql, _ := convert.Lookup("esql")
	if got, err := esql.Rule(rule("F", map[string]any{"index": "logs-* | drop F"}), "default"); err == nil || !strings.Contains(err.Error(), "index pattern") {
		t.Errorf("esql with a hostile index: %q, %v; want refused", got, err)
	}
	if got, err := esql.Rule(rule("F", map[string]any{"index": []any{"logs-*", "-*elastic-cloud-logs-*"}}), "default"); err != nil || !strings.HasPrefix(got, "from logs-*,-*elastic-cloud-logs-* metadata") {
		t.Errorf("esql with plain index patterns: %q, %v", got, err)
	}
	splunk, _ := convert.Lookup("splunk")
	if got, err := splunk.Rule(rule("F", map[string]any{"data_model_set": "Endpoint.Processes | delete"}), "data_model"); err == nil || !strings.Contains(err.Error(), "data model") {
		t.Errorf("splunk with a hostile data model: %q, %v; want refused", got, err)
	}
}

// TestQuotingCorrelations: rule names and group-by fields with line
// breaks and quotes reach correlation queries (event_type labels, joins,
// group-by) without putting a blank line into them, in every target that
// converts correlations.
func TestQuotingCorrelations(t *testing.T) {
	doc := `title: first
name: "r1\n\n| delete \" ' ] //"
logsource: {product: windows, category: process_creation}
detection: {sel: {Image: a}, condition: sel}
---
title: second
name: "r2\r\n\u2028x"
logsource: {product: windows, category: process_creation}
detection: {sel: {Image: b}, condition: sel}
---
title: "corr\n\n[x]"
correlation:
  type: TYPE
  rules: ["r1\n\n| delete \" ' ] //", "r2\r\n\u2028x"]
  group-by: [GROUP]
  timespan: 5m
`
	pipes := map[string][]*convert.Pipeline{}
	kp, err := convert.ParsePipeline("t", []byte(kqlTable))
	if err != nil {
		t.Fatal(err)
	}
	pipes["kql"] = []*convert.Pipeline{kp}
	written := map[string]int{}
	for _, typ := range []string{"temporal", "temporal_ordered", "event_count"} {
		for _, group := range []string{"Computer", `"Comp\"uter']"`, `"Comp\n\nuter"`} {
			text := strings.ReplaceAll(strings.ReplaceAll(doc, "TYPE", typ), "GROUP", group)
			if typ == "event_count" {
				text = strings.Replace(text, "  timespan: 5m\n", "  timespan: 5m\n  condition: {gte: 2}\n", 1)
			}
			f, perrs := sigma.Parse("c.yml", []byte(text))
			if len(perrs) > 0 {
				t.Fatalf("%s: %v", typ, perrs[0])
			}
			for _, target := range []string{"splunk", "kql", "esql", "eql"} {
				b, _ := convert.Lookup(target)
				for _, format := range b.Formats() {
					qs, errs := convert.Convert(&sigma.Collection{Rules: f.Rules, Correlations: f.Correlations}, b, pipes[target], format)
					for _, q := range qs {
						if q.Corr != nil {
							written[target]++
						}
						text := q.Text
						if format == "sentinel_rule" {
							var err error
							if text, err = yamlQuery(text, q.Title); err != nil {
								t.Errorf("%s/%s %s: %v", target, format, typ, err)
							}
						}
						if blankLine(text) {
							t.Errorf("%s/%s %s group-by %q: blank line in\n%s", target, format, typ, group, q.Text)
						}
					}
					for _, err := range errs {
						if strings.Contains(group, "\n") && strings.Contains(err.Error(), "line-breaking") {
							continue
						}
						if !strings.Contains(err.Error(), target+":") {
							t.Errorf("%s/%s %s: %v", target, format, typ, err)
						}
					}
				}
			}
		}
	}
	t.Logf("correlation queries written: %v", written)
	for _, target := range []string{"splunk", "kql", "esql", "eql"} {
		if written[target] == 0 {
			t.Errorf("%s wrote no correlation query: nothing was tested", target)
		}
	}
}
