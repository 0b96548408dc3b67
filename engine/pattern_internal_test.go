package engine

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/event"
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

// TestLiteralWindow checks the pre-filter's choice of a substring of long
// literals: a substring, maxLiteral long, away from common path text.
func TestLiteralWindow(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`short`, `short`},
		{`:\windows\sysnative\`, `s\sysnative\`},
		{`\appdata\local\temp\evil`, `local\temp\e`},
		{`abcdefghijklmnop`, `abcdefghijkl`},
	} {
		got := literalWindow(tc.in)
		if got != tc.want {
			t.Errorf("literalWindow(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if len(tc.in) > maxLiteral && (len(got) != maxLiteral || !strings.Contains(tc.in, got)) {
			t.Errorf("literalWindow(%q) = %q: not a %d-byte substring", tc.in, got, maxLiteral)
		}
	}
}

// TestAnyContains compares the one-scan test of a list of substrings
// with strings.Contains per substring, on random text (ASCII of both
// cases, and non-ASCII, which is scanned lower-cased).
func TestAnyContains(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alpha := []string{"a", "b", "A", "B", "\\", "é", "É", "x"}
	randStr := func(n int) string {
		var b strings.Builder
		for range rng.IntN(n + 1) {
			b.WriteString(alpha[rng.IntN(len(alpha))])
		}
		return b.String()
	}
	schema := event.NewSchema([]string{"F"})
	e := event.New(schema)
	for n := range 6000 {
		var lits []string
		for range 3 + rng.IntN(3+n%20) {
			if l := event.ToLower(randStr(2 + n%5)); l != "" {
				lits = append(lits, l)
			}
		}
		if len(lits) == 0 {
			continue
		}
		test := anyContains(lits)
		s := randStr(12 + n%30)
		e.Reset()
		e.Add("F", s, event.String)
		want := false
		for _, l := range lits {
			want = want || strings.Contains(event.ToLower(s), l)
		}
		if got := test(e, e.First(schema.Slot("F"))); got != want {
			t.Fatalf("anyContains(%q) on %q = %v, want %v", lits, s, got, want)
		}
	}
}

// TestCanonicalIntShortcut checks the premise of numberEq's fast miss:
// two different strings canonicalInt accepts never parse to the same
// number, and every string it accepts parses.
func TestCanonicalIntShortcut(t *testing.T) {
	cases := []struct {
		s    string
		want bool
	}{
		{"0", true}, {"4624", true}, {"999999999999999", true},
		{"", false}, {"04624", false}, {"00", false}, {"-1", false}, {"+1", false},
		{" 1", false}, {"1 ", false}, {"1.0", false}, {"0x10", false}, {"1e3", false},
		{"1000000000000000", false}, {"١٢", false},
	}
	for _, c := range cases {
		if got := canonicalInt(c.s); got != c.want {
			t.Errorf("canonicalInt(%q) = %v, want %v", c.s, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	digits := "0123456789"
	seen := map[float64]string{}
	for range 100000 {
		b := make([]byte, 1+rng.IntN(15))
		for k := range b {
			b[k] = digits[rng.IntN(10)]
		}
		s := string(b)
		if !canonicalInt(s) {
			continue
		}
		f, ok := parseNumber(s)
		if !ok {
			t.Fatalf("canonicalInt(%q) but parseNumber fails", s)
		}
		if old, dup := seen[f]; dup && old != s {
			t.Fatalf("%q and %q are both canonical and parse to %v", old, s, f)
		}
		seen[f] = s
	}
}
