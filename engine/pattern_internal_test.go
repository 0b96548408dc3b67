package engine

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestPatternAgainstRegexp compares compiled patterns with the equivalent
// regular expression on many small random patterns and strings.
func TestPatternAgainstRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alpha := []string{"a", "b", "é", "-", "/", "\u2013"}
	randStr := func(n int) string {
		var b strings.Builder
		for range rng.IntN(n + 1) {
			b.WriteString(alpha[rng.IntN(len(alpha))])
		}
		return b.String()
	}
	for range 3000 {
		// A pattern over a, b, é, dashes, '*' and '?', possibly windash'd.
		var src strings.Builder
		for range rng.IntN(6) {
			switch rng.IntN(5) {
			case 0:
				src.WriteByte('*')
			case 1:
				src.WriteByte('?')
			default:
				src.WriteString(alpha[rng.IntN(len(alpha))])
			}
		}
		s := parseSigmaString(src.String(), true)
		wd := rng.IntN(2) == 0
		if wd {
			s = s.windash()
		}
		lead, trail := rng.IntN(2) == 0, rng.IntN(2) == 0
		s = s.anchor(lead, trail)
		p := s.compile()
		var re strings.Builder
		re.WriteString("^(?s:")
		for _, tk := range s {
			switch tk.kind {
			case tokLit:
				re.WriteString(regexp.QuoteMeta(tk.lit))
			case tokOne:
				re.WriteString(".")
			case tokStar:
				re.WriteString(".*")
			case tokDash:
				re.WriteString("[-/\u2013\u2014\u2015]")
			}
		}
		re.WriteString(")$")
		rx := regexp.MustCompile(re.String())
		for range 20 {
			in := randStr(7)
			if got, want := p.match(in), rx.MatchString(in); got != want {
				t.Fatalf("pattern %q (windash %v, lead %v, trail %v) on %q: match %v, regexp %s says %v", src.String(), wd, lead, trail, in, got, rx, want)
			}
		}
	}
}
