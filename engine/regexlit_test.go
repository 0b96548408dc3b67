package engine

import (
	"github.com/vigil-detect/vigil/event"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
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
