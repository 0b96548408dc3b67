package engine

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vigil-detect/vigil/event"
)

// A pattern is a compiled string comparison: a literal compared whole, as a
// prefix, suffix or substring, or a glob of literal runs, '?' (one
// character), '*' (any run) and dash classes (windash: any of - / – — ―).
// Patterns compare against text already folded by the caller when the
// comparison is case-insensitive.
type pattern struct {
	kind patKind
	lit  string // for the literal kinds
	toks []tok  // for globs
}

type patKind uint8

const (
	patExact patKind = iota
	patPrefix
	patSuffix
	patContains
	patGlob
)

type tokKind uint8

const (
	tokLit tokKind = iota
	tokOne
	tokStar
	tokDash
)

type tok struct {
	kind tokKind
	lit  string
}

// dashes are the characters windash treats as interchangeable.
const dashes = "-/\u2013\u2014\u2015"

func isDash(r rune) bool {
	return r == '-' || r == '/' || r == '\u2013' || r == '\u2014' || r == '\u2015'
}

// sigmaString is a Sigma value after escape processing: a list of tokens
// (literal text, wildcards, dash classes).
type sigmaString []tok

// parseSigmaString applies Sigma's escaping rules: '*' and '?' are
// wildcards; a backslash escapes a following wildcard or backslash and is
// literal otherwise.
func parseSigmaString(s string, wildcards bool) sigmaString {
	var out sigmaString
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, tok{kind: tokLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			lit.WriteByte(s[i+1])
			i++
		case wildcards && c == '*':
			flush()
			if len(out) == 0 || out[len(out)-1].kind != tokStar {
				out = append(out, tok{kind: tokStar})
			}
		case wildcards && c == '?':
			flush()
			out = append(out, tok{kind: tokOne})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out
}

// plain returns the string as plain text, with wildcards written as '*'
// and '?' (used by encodings that turn the value into bytes).
func (s sigmaString) plain() string {
	var b strings.Builder
	for _, t := range s {
		switch t.kind {
		case tokLit:
			b.WriteString(t.lit)
		case tokOne:
			b.WriteByte('?')
		case tokStar:
			b.WriteByte('*')
		case tokDash:
			b.WriteByte('-')
		}
	}
	return b.String()
}

func (s sigmaString) hasWildcards() bool {
	for _, t := range s {
		if t.kind != tokLit {
			return true
		}
	}
	return false
}

// mapLit applies f to every literal run.
func (s sigmaString) mapLit(f func(string) string) sigmaString {
	out := make(sigmaString, len(s))
	for i, t := range s {
		if t.kind == tokLit {
			t.lit = f(t.lit)
		}
		out[i] = t
	}
	return out
}

// windash replaces every dash character of the literal runs by a dash
// class.
func (s sigmaString) windash() sigmaString {
	var out sigmaString
	for _, t := range s {
		if t.kind != tokLit || !strings.ContainsAny(t.lit, dashes) {
			out = append(out, t)
			continue
		}
		start := 0
		for i, r := range t.lit {
			if isDash(r) {
				if i > start {
					out = append(out, tok{kind: tokLit, lit: t.lit[start:i]})
				}
				out = append(out, tok{kind: tokDash})
				start = i + utf8.RuneLen(r)
			}
		}
		if start < len(t.lit) {
			out = append(out, tok{kind: tokLit, lit: t.lit[start:]})
		}
	}
	return out
}

// maxDashVariants bounds the strings expandDashes makes from one value.
const maxDashVariants = 625

// expandDashes replaces each string holding dash classes (from windash) by
// one string per combination of dashes, for the encodings, which need
// plain text.
func expandDashes(ss []sigmaString) ([]sigmaString, error) {
	var out []sigmaString
	for _, s := range ss {
		variants := []sigmaString{nil}
		for _, t := range s {
			if t.kind != tokDash {
				for i := range variants {
					variants[i] = append(variants[i], t)
				}
				continue
			}
			if len(variants)*len(dashRunes) > maxDashVariants {
				return nil, fmt.Errorf("windash gives more than %d dash combinations to encode; use fewer dashes", maxDashVariants)
			}
			next := make([]sigmaString, 0, len(variants)*len(dashRunes))
			for _, v := range variants {
				for _, d := range dashRunes {
					next = append(next, append(append(sigmaString(nil), v...), tok{kind: tokLit, lit: string(d)}))
				}
			}
			variants = next
		}
		out = append(out, variants...)
	}
	return out, nil
}

var dashRunes = []rune(dashes)

// anchor adds leading and/or trailing stars.
func (s sigmaString) anchor(leadStar, trailStar bool) sigmaString {
	out := append(sigmaString(nil), s...)
	if leadStar && (len(out) == 0 || out[0].kind != tokStar) {
		out = append(sigmaString{{kind: tokStar}}, out...)
	}
	if trailStar && (len(out) == 0 || out[len(out)-1].kind != tokStar) {
		out = append(out, tok{kind: tokStar})
	}
	return out
}

// compile turns a token list into the fastest pattern that matches the
// same strings.
func (s sigmaString) compile() pattern {
	// Merge adjacent literal runs.
	var toks []tok
	for _, t := range s {
		if t.kind == tokLit && len(toks) > 0 && toks[len(toks)-1].kind == tokLit {
			toks[len(toks)-1].lit += t.lit
			continue
		}
		toks = append(toks, t)
	}
	switch {
	case len(toks) == 0:
		return pattern{kind: patExact}
	case len(toks) == 1 && toks[0].kind == tokLit:
		return pattern{kind: patExact, lit: toks[0].lit}
	case len(toks) == 1 && toks[0].kind == tokStar:
		return pattern{kind: patPrefix} // any string
	case len(toks) == 2 && toks[0].kind == tokLit && toks[1].kind == tokStar:
		return pattern{kind: patPrefix, lit: toks[0].lit}
	case len(toks) == 2 && toks[0].kind == tokStar && toks[1].kind == tokLit:
		return pattern{kind: patSuffix, lit: toks[1].lit}
	case len(toks) == 3 && toks[0].kind == tokStar && toks[1].kind == tokLit && toks[2].kind == tokStar:
		return pattern{kind: patContains, lit: toks[1].lit}
	}
	return pattern{kind: patGlob, toks: toks}
}

func (p *pattern) match(s string) bool {
	switch p.kind {
	case patExact:
		return s == p.lit
	case patPrefix:
		return strings.HasPrefix(s, p.lit)
	case patSuffix:
		return strings.HasSuffix(s, p.lit)
	case patContains:
		return strings.Contains(s, p.lit)
	}
	return globMatch(p.toks, s)
}

// globMatch matches tokens against s. Stars backtrack to the most recent
// star only, which is enough because any later star can absorb whatever an
// earlier one would have.
func globMatch(toks []tok, s string) bool {
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			t := toks[ti]
			switch t.kind {
			case tokStar:
				starTi, starSi = ti, si
				ti++
				// Fast path: star followed by a literal jumps to its next
				// occurrence.
				if ti < len(toks) && toks[ti].kind == tokLit {
					j := strings.Index(s[si:], toks[ti].lit)
					if j < 0 {
						return false
					}
					si += j
					starSi = si
				}
				continue
			case tokLit:
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					ti++
					continue
				}
			case tokOne:
				if si < len(s) {
					_, size := utf8.DecodeRuneInString(s[si:])
					si += size
					ti++
					continue
				}
			case tokDash:
				if si < len(s) {
					r, size := utf8.DecodeRuneInString(s[si:])
					if isDash(r) {
						si += size
						ti++
						continue
					}
				}
			}
		} else if si == len(s) {
			return true
		}
		// Mismatch: let the last star absorb one more character.
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, size := utf8.DecodeRuneInString(s[starSi:])
		starSi += size
		si = starSi
		ti = starTi + 1
	}
}

// folded returns the pattern with its literal runs in lower case.
func (p pattern) folded() pattern {
	p.lit = event.ToLower(p.lit)
	if p.toks != nil {
		toks := make([]tok, len(p.toks))
		for i, t := range p.toks {
			t.lit = event.ToLower(t.lit)
			toks[i] = t
		}
		p.toks = toks
	}
	return p
}

// literals returns the literal runs of the pattern, for the pre-filter.
func (p *pattern) literals() []string {
	if p.kind != patGlob {
		return []string{p.lit}
	}
	var out []string
	for _, t := range p.toks {
		if t.kind == tokLit {
			out = append(out, t.lit)
		}
	}
	return out
}
