package convert

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
)

func compileRE(src string) (*regexp.Regexp, error) { return regexp.Compile(src) }

// LuceneRegex translates a Go regular expression (unanchored search, as
// vigil matches it) into a Lucene regular expression, which must match a
// whole value: it adds the leading and trailing ".*" the search implies,
// resolves "^" and "$" where they anchor the match, and spells case
// folding out as character classes ([aA]) since Lucene has no flags. It
// refuses what Lucene cannot express (word boundaries, anchors inside the
// expression, multi-line anchors).
func LuceneRegex(src string) (string, error) {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return "", err
	}
	if err := luceneComplexity(re); err != nil {
		return "", err
	}
	return luceneTranslate(re)
}

func luceneTranslate(re *syntax.Regexp) (string, error) {
	var b strings.Builder
	if err := luceneNode(&b, re, true, true); err != nil {
		return "", err
	}
	if b.Len() == 0 {
		// "^$": only the empty value; "//" would end a query
		// string's expression before it starts.
		return "()", nil
	}
	return b.String(), nil
}

// maxBroadRepeat bounds a counted repetition of a broad class (".",
// "[^x]") inside an unanchored expression.
const maxBroadRepeat = 32

// luceneComplexity refuses expressions whose Lucene automaton would
// exceed Elasticsearch's 10,000 determinized states
// (max_determinized_states), where Elasticsearch rejects the query: an
// unanchored expression (Lucene's leading ".*") with a counted
// repetition of a broad class ("[^\n]{2,128}") followed by more of the
// expression. The bound is measured, not derived: TestLuceneRegexes runs
// every SigmaHQ expression through Lucene's RegExp, and those it refuses
// as too complex are exactly the ones refused here.
func luceneComplexity(re *syntax.Regexp) error {
	seq := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		seq = re.Sub
	}
	if len(seq) > 0 && seq[0].Op == syntax.OpBeginText {
		return nil
	}
	var bad *syntax.Regexp
	var walk func(r *syntax.Regexp, last bool)
	walk = func(r *syntax.Regexp, last bool) {
		if r.Op == syntax.OpRepeat && r.Max-r.Min >= maxBroadRepeat && broad(r.Sub[0]) && !last {
			bad = r
		}
		for i, s := range r.Sub {
			walk(s, last && (r.Op != syntax.OpConcat || i == len(r.Sub)-1))
		}
	}
	// Trailing "$" adds no content after a repetition.
	end := len(seq)
	for end > 0 && seq[end-1].Op == syntax.OpEndText {
		end--
	}
	for i, s := range seq {
		walk(s, i >= end-1)
	}
	if bad != nil {
		return fmt.Errorf("%s in an unanchored expression: Lucene's automaton would exceed Elasticsearch's 10,000 determinized states", bad)
	}
	return nil
}

// broad reports whether a repeated expression matches most characters.
func broad(r *syntax.Regexp) bool {
	for r.Op == syntax.OpCapture {
		r = r.Sub[0]
	}
	switch r.Op {
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	case syntax.OpCharClass:
		return len(r.Rune) > 0 && r.Rune[len(r.Rune)-1] == unicode.MaxRune
	}
	return false
}

const luceneReserved = `.?+*|{}[]()"\#@&<>~/`

func luceneNode(b *strings.Builder, re *syntax.Regexp, lead, trail bool) error {
	wrapAtom := func(f func() error) error {
		if lead {
			b.WriteString(".*")
		}
		if err := f(); err != nil {
			return err
		}
		if trail {
			b.WriteString(".*")
		}
		return nil
	}
	switch re.Op {
	case syntax.OpBeginText:
		if !lead {
			return fmt.Errorf("anchor \"^\" inside the expression has no Lucene equivalent")
		}
		if trail {
			b.WriteString(".*")
		}
		return nil
	case syntax.OpEndText:
		if !trail {
			return fmt.Errorf("anchor \"$\" inside the expression has no Lucene equivalent")
		}
		if lead {
			b.WriteString(".*")
		}
		return nil
	case syntax.OpBeginLine, syntax.OpEndLine:
		return fmt.Errorf("multi-line anchors (flag m) have no Lucene equivalent")
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return fmt.Errorf("word boundaries (\\b, \\B) have no Lucene equivalent")
	case syntax.OpNoMatch:
		return fmt.Errorf("an expression that matches nothing")
	case syntax.OpEmptyMatch:
		if lead || trail {
			b.WriteString(".*")
		} else {
			b.WriteString("()")
		}
		return nil
	case syntax.OpCapture:
		n := b.Len()
		if err := luceneNode(b, re.Sub[0], lead, trail); err != nil {
			return err
		}
		if sub := b.String()[n:]; !strings.HasPrefix(sub, "(") || !balancedGroup(sub) {
			// Group what the sub-expression wrote (an alternation
			// writes its own parentheses).
			rest := b.String()[:n]
			b.Reset()
			b.WriteString(rest + "(" + sub + ")")
		}
		return nil
	case syntax.OpAlternate:
		b.WriteByte('(')
		for i, s := range re.Sub {
			if i > 0 {
				b.WriteByte('|')
			}
			n := b.Len()
			if err := luceneNode(b, s, lead, trail); err != nil {
				return err
			}
			if b.Len() == n {
				// An anchor that holds where it stands ("^" first,
				// "$" last) matches the empty string: Lucene writes
				// that "()", an empty branch is a syntax error.
				b.WriteString("()")
			}
		}
		b.WriteByte(')')
		return nil
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			return luceneNode(b, &syntax.Regexp{Op: syntax.OpEmptyMatch}, lead, trail)
		}
		for i, s := range re.Sub {
			l := lead && i == 0
			t := trail && i == len(re.Sub)-1
			if err := luceneNode(b, s, l, t); err != nil {
				return err
			}
		}
		return nil
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		return wrapAtom(func() error {
			b.WriteByte('(')
			if err := luceneNode(b, re.Sub[0], false, false); err != nil {
				return err
			}
			b.WriteByte(')')
			switch re.Op {
			case syntax.OpStar:
				b.WriteByte('*')
			case syntax.OpPlus:
				b.WriteByte('+')
			case syntax.OpQuest:
				b.WriteByte('?')
			default:
				switch {
				case re.Max == -1:
					fmt.Fprintf(b, "{%d,}", re.Min)
				case re.Min == re.Max:
					fmt.Fprintf(b, "{%d}", re.Min)
				default:
					fmt.Fprintf(b, "{%d,%d}", re.Min, re.Max)
				}
			}
			return nil
		})
	case syntax.OpLiteral:
		return wrapAtom(func() error {
			for _, r := range re.Rune {
				luceneRune(b, r, re.Flags&syntax.FoldCase != 0)
			}
			return nil
		})
	case syntax.OpAnyChar:
		return wrapAtom(func() error { b.WriteByte('.'); return nil })
	case syntax.OpAnyCharNotNL:
		return wrapAtom(func() error { b.WriteString("[^\n]"); return nil })
	case syntax.OpCharClass:
		return wrapAtom(func() error { luceneClass(b, re.Rune); return nil })
	}
	return fmt.Errorf("regular expression construct %v has no Lucene equivalent", re.Op)
}

// balancedGroup reports whether s is one parenthesised group: its first
// "(" closes at its last character.
func balancedGroup(s string) bool {
	depth := 0
	inClass := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 && i != len(s)-1 {
				return false
			}
		}
	}
	return depth == 0
}

func luceneRune(b *strings.Builder, r rune, fold bool) {
	if fold {
		u, l := unicode.ToUpper(r), unicode.ToLower(r)
		if u != l {
			b.WriteByte('[')
			b.WriteRune(l)
			b.WriteRune(u)
			// Other case variants (e.g. the Kelvin sign) as Go folds them.
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				if f != u && f != l {
					b.WriteRune(f)
				}
			}
			b.WriteByte(']')
			return
		}
	}
	if strings.ContainsRune(luceneReserved, r) || IsBreaking(r) {
		// A line break is escaped too (Lucene reads an escaped character
		// as itself): no expression can put a blank line into a query.
		b.WriteByte('\\')
	}
	b.WriteRune(r)
}

func luceneClass(b *strings.Builder, ranges []rune) {
	// A class ending at the top of Unicode is written as a negation.
	neg := len(ranges) > 0 && ranges[len(ranges)-1] == unicode.MaxRune && (ranges[0] == 0)
	if neg {
		var comp []rune
		next := rune(0)
		for i := 0; i < len(ranges); i += 2 {
			if ranges[i] > next {
				comp = append(comp, next, ranges[i]-1)
			}
			next = ranges[i+1] + 1
		}
		b.WriteString("[^")
		writeRanges(b, comp)
		b.WriteByte(']')
		return
	}
	b.WriteByte('[')
	writeRanges(b, ranges)
	b.WriteByte(']')
}

func writeRanges(b *strings.Builder, ranges []rune) {
	w := func(r rune) {
		if strings.ContainsRune(`[]\^-`+luceneReserved, r) || IsBreaking(r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	for i := 0; i < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		w(lo)
		if hi > lo {
			if hi > lo+1 {
				b.WriteByte('-')
			}
			w(hi)
		}
	}
}
