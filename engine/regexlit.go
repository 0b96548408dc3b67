package engine

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/sigma"
)

// addRegexLiterals records, for a regular expression value, literals one
// of which every match must contain, so that rules made of regular
// expressions can sit behind the pre-filter too. A regular expression
// whose matches need no literal (".*", "[a-z]+") records none.
func (c *compiler) addRegexLiterals(v *sigma.Value, src string) {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return
	}
	lits := regexLiterals(re.Simplify(), 0)
	if len(lits) == 0 {
		return
	}
	if c.valueLits == nil {
		c.valueLits = map[*sigma.Value][]string{}
	}
	for i, l := range lits {
		l = event.ToLower(l)
		lits[i] = literalWindow(l)
	}
	c.valueLits[v] = lits
}

// minRegexLiteral is the shortest literal worth filtering on: shorter ones
// occur in almost every event.
const minRegexLiteral = 3

// regexLiterals returns a set of literals at least one of which occurs in
// every string the expression matches, or nil when there is none.
func regexLiterals(re *syntax.Regexp, depth int) []string {
	if depth > 50 {
		return nil
	}
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		if len(s) < minRegexLiteral || strings.ContainsRune(s, utf8.RuneError) {
			// U+FFFD also matches any invalid byte, which the text does
			// not hold as U+FFFD's encoding.
			return nil
		}
		return []string{s}
	case syntax.OpCapture:
		return regexLiterals(re.Sub[0], depth+1)
	case syntax.OpPlus:
		// x+ contains x at least once.
		return regexLiterals(re.Sub[0], depth+1)
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return regexLiterals(re.Sub[0], depth+1)
		}
	case syntax.OpConcat:
		// Any one part is needed; take the one that filters best, and
		// merge runs of adjacent literals into one longer literal.
		var best []string
		var run strings.Builder
		consider := func(l []string) {
			if l != nil && (best == nil || score(l) > score(best)) {
				best = l
			}
		}
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpLiteral && !slices.Contains(sub.Rune, utf8.RuneError) {
				run.WriteString(string(sub.Rune))
				continue
			}
			if run.Len() >= minRegexLiteral {
				consider([]string{run.String()})
			}
			run.Reset()
			consider(regexLiterals(sub, depth+1))
		}
		if run.Len() >= minRegexLiteral {
			consider([]string{run.String()})
		}
		return best
	case syntax.OpAlternate:
		// Every branch must contribute.
		var all []string
		for _, sub := range re.Sub {
			l := regexLiterals(sub, depth+1)
			if l == nil {
				return nil
			}
			all = append(all, l...)
		}
		return all
	}
	return nil
}

// score ranks literal sets: a longer shortest literal, then fewer
// literals.
func score(l []string) int {
	short := 1 << 20
	for _, s := range l {
		short = min(short, len(s))
	}
	return min(short, maxLiteral)*1000 - len(l)
}

// A regexClause is a set of literals at least one of which occurs in
// every string a regular expression matches; fold means the comparison
// is made on lower-case text (event.Event.Lower).
type regexClause struct {
	lits []string
	fold bool
}

// maxRegexClauses bounds the literal checks made before running a
// regular expression.
const maxRegexClauses = 4

// regexGuard returns clauses every match of the expression satisfies, all
// of them: checked with strings.Contains before the expression runs, they
// spare running it on text that cannot match (Go's regular expressions
// cost far more per byte than a substring search). Unlike the pre-filter's
// literals, short ones count: "&&" or a backquote rule out most text.
func regexGuard(src string) []regexClause {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil
	}
	cs := regexClauses(re.Simplify(), 0)
	// Longest shortest literal first: the likeliest to be absent.
	slices.SortStableFunc(cs, func(a, b regexClause) int { return shortest(b.lits) - shortest(a.lits) })
	if len(cs) > maxRegexClauses {
		cs = cs[:maxRegexClauses]
	}
	for i := range cs {
		if cs[i].fold {
			for j, l := range cs[i].lits {
				cs[i].lits[j] = event.ToLower(l)
			}
		}
	}
	return cs
}

func shortest(lits []string) int {
	n := 1 << 20
	for _, l := range lits {
		n = min(n, len(l))
	}
	return n
}

func regexClauses(re *syntax.Regexp, depth int) []regexClause {
	if depth > 50 {
		return nil
	}
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		if s == "" || strings.ContainsRune(s, utf8.RuneError) {
			return nil
		}
		return []regexClause{{lits: []string{s}, fold: re.Flags&syntax.FoldCase != 0}}
	case syntax.OpCapture, syntax.OpPlus:
		return regexClauses(re.Sub[0], depth+1)
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return regexClauses(re.Sub[0], depth+1)
		}
	case syntax.OpConcat:
		var out []regexClause
		for _, sub := range re.Sub {
			out = append(out, regexClauses(sub, depth+1)...)
		}
		return out
	case syntax.OpAlternate:
		// Every branch must contribute a literal: one clause, the union
		// of each branch's best clause.
		var c regexClause
		for _, sub := range re.Sub {
			cs := regexClauses(sub, depth+1)
			if len(cs) == 0 {
				return nil
			}
			best := cs[0]
			for _, x := range cs[1:] {
				if shortest(x.lits) > shortest(best.lits) {
					best = x
				}
			}
			c.lits = append(c.lits, best.lits...)
			c.fold = c.fold || best.fold
		}
		// With fold set, a case-sensitive branch's literal, lower-cased,
		// still occurs in the lower-case text.
		return []regexClause{c}
	}
	return nil
}

// guardPasses reports whether field i of e satisfies every clause.
func guardPasses(cs []regexClause, e *event.Event, i int) bool {
	for _, c := range cs {
		s := e.Fields[i].Str
		if c.fold {
			s = e.Lower(i)
		}
		found := false
		for _, l := range c.lits {
			if strings.Contains(s, l) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
