package engine

import (
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/event"
)

func TestRegexLiterals(t *testing.T) {
	tests := []struct {
		re   string
		want []string
	}{
		{`powershell\.exe`, []string{"powershell.exe"}},
		{`(?i)\\AppData\\.*\.dll$`, []string{`\appdata\`}},
		{`(cmd|pwsh)\.exe .* /c`, []string{".exe "}},
		{`(certutil|bitsadmin)`, []string{"certutil", "bitsadmin"}},
		{`(abc|x)`, nil}, // a branch without a literal: no requirement
		{`.*`, nil},
		{`[a-z]+\d{2,}`, nil},
		{`(foo)+bar?`, []string{"foo"}},
		{`(?:ab)?cd`, nil},
		{`\x{FFFD}abc`, nil}, // U+FFFD matches invalid bytes too
	}
	for _, tc := range tests {
		re, err := syntax.Parse(tc.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		got := regexLiterals(re.Simplify(), 0)
		for i := range got {
			got[i] = strings.ToLower(got[i])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: literals %q, want %q", tc.re, got, tc.want)
		}
	}
}

// TestRegexLiteralsNecessary checks that whenever a regular expression
// matches a text, one of its literals occurs in the text as the
// pre-filter sees it (folded by event.ToLower).
func TestRegexLiteralsNecessary(t *testing.T) {
	exprs := []string{`(?i)invoke-(expression|webrequest)`, `cmd\.exe /[ck] .*\.bat`, `(?i)start`, `(?i)kelvin`, `ab(cde|fgh)i+jkl`}
	texts := []string{"INVOKE-Expression x", "cmd.exe /c a.bat", "cmd.exe /k .bat", "\u017fTART", "\u212Aelvin", "abcdeiijkl", "abfghijkl", "nothing"}
	for _, src := range exprs {
		re := regexp.MustCompile(src)
		p, _ := syntax.Parse(src, syntax.Perl)
		lits := regexLiterals(p.Simplify(), 0)
		if lits == nil {
			t.Errorf("%s: no literals", src)
			continue
		}
		for _, text := range texts {
			if !re.MatchString(text) {
				continue
			}
			found := false
			for _, l := range lits {
				if strings.Contains(event.ToLower(text), event.ToLower(l)) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s matches %q but none of %q occurs in it", src, text, lits)
			}
		}
	}
}

// TestRegexGuardNecessary checks that the literal guard never refuses a
// string the regular expression matches, on random strings built from
// the expressions' own characters (both cases, and Unicode letters that
// fold to ASCII ones).
func TestRegexGuardNecessary(t *testing.T) {
	srcs := []string{
		`(?i)(set).*&&\s?set.*(environment|invoke|\$\{?input).*&&.*"`,
		"\\w+`(?:\\w+|-|.)`[\\w+|\\s]",
		`"(?:\{\d\})+"\s*-f`,
		"(?i)\\$\\{`?e`?n`?v`?:`?p`?a`?t`?h`?\\}",
		`(?i)sk(ab|c)+d?`, `ab(?i:CD)ef`, `x{2,}y`, `(a|bc)(d|ef)`, `(?i)k|s`, `^$`, `a*`,
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, src := range srcs {
		re := regexp.MustCompile(src)
		guard := regexGuard(src)
		var alpha []string
		for _, r := range src {
			alpha = append(alpha, string(r), strings.ToUpper(string(r)))
		}
		alpha = append(alpha, "\u212a", "\u017f", " ", "0")
		schema := event.NewSchema([]string{"F"})
		e := event.New(schema)
		matched := 0
		for range 20000 {
			var b strings.Builder
			for range rng.IntN(14) {
				b.WriteString(alpha[rng.IntN(len(alpha))])
			}
			s := b.String()
			if !re.MatchString(s) {
				continue
			}
			matched++
			e.Reset()
			e.Add("F", s, event.String)
			if !guardPasses(guard, e, 0) {
				t.Fatalf("%s matches %q but its guard %v refuses it", src, s, guard)
			}
		}
		for _, ex := range examples[src] {
			for range 200 {
				// Random case changes and Unicode spellings of k and s.
				var b strings.Builder
				for _, r := range ex {
					switch {
					case (r == 'k' || r == 'K') && rng.IntN(3) == 0:
						r = '\u212a'
					case (r == 's' || r == 'S') && rng.IntN(3) == 0:
						r = '\u017f'
					case rng.IntN(2) == 0:
						r = []rune(strings.ToUpper(string(r)))[0]
					}
					b.WriteRune(r)
				}
				s := b.String()
				if !re.MatchString(s) {
					continue
				}
				matched++
				e.Reset()
				e.Add("F", s, event.String)
				if !guardPasses(guard, e, 0) {
					t.Fatalf("%s matches %q but its guard %v refuses it", src, s, guard)
				}
			}
		}
		if matched == 0 {
			t.Errorf("%s: nothing matched; the test checks nothing", src)
		}
	}
}

var examples = map[string][]string{
	`(?i)(set).*&&\s?set.*(environment|invoke|\$\{?input).*&&.*"`: {`set x && set y invoke && "z"`, `SET a&&set ${input} && "`},
	`"(?:\{\d\})+"\s*-f`:                      {`"{0}{1}" -f 'a'`},
	"(?i)\\$\\{`?e`?n`?v`?:`?p`?a`?t`?h`?\\}": {"${e`nv:path}", "${env:PATH}"},
	`ab(?i:CD)ef`:                             {`abcdef`, `abCDef`},
}
