package convert_test

import (
	"regexp"
	"testing"

	"github.com/vigil-detect/vigil/convert"
)

// emptyBranch reports whether a Lucene expression has an empty
// alternative ("(|", "||", "|)") or an empty expression, which Lucene's
// RegExp rejects; escapes and character classes are skipped.
func emptyBranch(s string) bool {
	if s == "" {
		return true
	}
	prev := byte('(')
	inClass := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			prev = 'x'
			continue
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == '|' && (prev == '(' || prev == '|'):
			return true
		case c == ')' && prev == '|':
			return true
		}
		prev = c
	}
	return prev == '|'
}

// FuzzLuceneRegex: any Go regular expression either is refused or
// translates to an expression without empty alternatives; translating
// never panics.
func FuzzLuceneRegex(f *testing.F) {
	for _, s := range []string{`\.(bat|cmd)([\s"']|$)`, `(?i)(^|[\s"']|\.exe)/[ck]`, `^a|b$`, `(|a)`, `a{2,5}b`, `[^"]{0,64}x`, `(?s).*`, `^$`, `(a|)`, `x(?:)y`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if _, err := regexp.Compile(src); err != nil {
			return
		}
		l, err := convert.LuceneRegex(src)
		if err == nil && emptyBranch(l) {
			t.Fatalf("%q translates to %q, which has an empty alternative", src, l)
		}
	})
}
