package engine

import (
	"strings"
	"unicode/utf8"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/sigma"
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

// The tokens of a string are those of sigma.Pattern (parsing, windash and
// the encodings live in package sigma, shared with package convert); the
// engine keeps its own copy of them to compile and match.
type tokKind = sigma.TokenKind

const (
	tokLit  = sigma.TokLiteral
	tokOne  = sigma.TokOne
	tokStar = sigma.TokAny
	tokDash = sigma.TokDash
)

type tok struct {
	kind tokKind
	lit  string
}

// sigmaString is a Sigma value after escape processing: a list of tokens
// (literal text, wildcards, dash classes).
type sigmaString []tok

func fromSigma(p sigma.Pattern) sigmaString {
	out := make(sigmaString, len(p))
	for i, t := range p {
		out[i] = tok{kind: t.Kind, lit: t.Lit}
	}
	return out
}

func (s sigmaString) toSigma() sigma.Pattern {
	out := make(sigma.Pattern, len(s))
	for i, t := range s {
		out[i] = sigma.Token{Kind: t.kind, Lit: t.lit}
	}
	return out
}

// parseSigmaString applies Sigma's escaping rules (sigma.ParseString).
func parseSigmaString(s string, wildcards bool) sigmaString {
	return fromSigma(sigma.ParseString(s, wildcards))
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
// class (sigma.Pattern.Windash).
func (s sigmaString) windash() sigmaString { return fromSigma(s.toSigma().Windash()) }

// anchor adds leading and/or trailing stars (sigma.Pattern.Anchor).
func (s sigmaString) anchor(leadStar, trailStar bool) sigmaString {
	return fromSigma(s.toSigma().Anchor(leadStar, trailStar))
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
					if sigma.IsDash(r) {
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
