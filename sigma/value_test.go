package sigma_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/sigma"
)

// TestParseStringEscapes checks the escaping table of the specification.
func TestParseStringEscapes(t *testing.T) {
	for _, tt := range []struct{ in, plain string }{
		{`C:\Windows`, `C:\Windows`},
		{`C:\\Windows`, `C:\Windows`},
		{`a\*b`, `a*b`},
		{`what\?`, `what?`},
		{`\\\*`, `\*`},
		{`\\\\`, `\\`},
		{`\\\`, `\\`},
		{`trailing\`, `trailing\`},
	} {
		p := sigma.ParseString(tt.in, true)
		if p.HasWildcards() {
			t.Errorf("%q: has wildcards", tt.in)
		}
		if got := p.Plain(); got != tt.plain {
			t.Errorf("%q: plain %q, want %q", tt.in, got, tt.plain)
		}
	}
	p := sigma.ParseString(`C:\\*`, true)
	if len(p) != 2 || p[0].Lit != `C:\` || p[1].Kind != sigma.TokAny {
		t.Errorf(`C:\\*: %+v`, p)
	}
	p = sigma.ParseString(`a**?b`, true)
	want := sigma.Pattern{{Kind: sigma.TokLiteral, Lit: "a"}, {Kind: sigma.TokAny}, {Kind: sigma.TokOne}, {Kind: sigma.TokLiteral, Lit: "b"}}
	if !equal(p, want) {
		t.Errorf("a**?b: %+v", p)
	}
	if p := sigma.ParseString(`a*?`, false); p.HasWildcards() || p.Plain() != "a*?" {
		t.Errorf("without wildcards: %+v", p)
	}
}

func equal(a, b sigma.Pattern) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWindashAndExpandDashes(t *testing.T) {
	p := sigma.ParseString("-a/b", true).Windash()
	if len(p) != 4 || p[0].Kind != sigma.TokDash || p[2].Kind != sigma.TokDash || p.Plain() != "-a-b" {
		t.Fatalf("windash: %+v", p)
	}
	ps, err := sigma.ExpandDashes([]sigma.Pattern{p}, sigma.MaxDashVariants)
	if err != nil || len(ps) != 25 {
		t.Fatalf("expand: %d, %v", len(ps), err)
	}
	if ps[0].Merge().Plain() != "-a-b" || ps[24].Merge().Plain() != "\u2015a\u2015b" {
		t.Errorf("order: %q ... %q", ps[0].Plain(), ps[24].Plain())
	}
	if _, err := sigma.ExpandDashes([]sigma.Pattern{p}, 20); err == nil {
		t.Error("limit not enforced")
	}
}

func TestAnchorMerge(t *testing.T) {
	p := sigma.ParseString("*x", true).Anchor(true, true)
	if p.Plain() != "*x*" || len(p) != 3 {
		t.Errorf("anchor: %+v", p)
	}
	m := sigma.Pattern{{Kind: sigma.TokLiteral, Lit: "a"}, {Kind: sigma.TokLiteral, Lit: ""}, {Kind: sigma.TokLiteral, Lit: "b"}, {Kind: sigma.TokAny}, {Kind: sigma.TokAny}}.Merge()
	if len(m) != 2 || m[0].Lit != "ab" {
		t.Errorf("merge: %+v", m)
	}
}

func TestEncodings(t *testing.T) {
	if got := sigma.EncodeUTF16("A", "utf16le"); got != "A\x00" {
		t.Errorf("utf16le %q", got)
	}
	if got := sigma.EncodeUTF16("A", "utf16be"); got != "\x00A" {
		t.Errorf("utf16be %q", got)
	}
	if got := sigma.EncodeUTF16("A", "utf16"); got != "\xff\xfeA\x00" {
		t.Errorf("utf16 %q", got)
	}
	// Each offset form occurs in the encoding of the value after 0, 1, 2
	// bytes of any prefix.
	s := "http://evil"
	offs := sigma.Base64Offsets(s)
	if len(offs) != 3 {
		t.Fatal(offs)
	}
	for i, pre := range []string{"", "x", "yz"} {
		enc := base64.StdEncoding.EncodeToString([]byte(pre + s + "tail"))
		if !strings.Contains(enc, offs[i]) {
			t.Errorf("offset %d: %q not in %q", i, offs[i], enc)
		}
	}
}

func TestEncodeValue(t *testing.T) {
	mods := func(names ...string) []sigma.Modifier {
		var out []sigma.Modifier
		for _, n := range names {
			out = append(out, sigma.Modifier{Name: n})
		}
		return out
	}
	in := func(s string) []sigma.Pattern { return []sigma.Pattern{sigma.ParseString(s, true)} }
	got, err := sigma.EncodeValue(in("ab"), mods("base64"))
	if err != nil || len(got) != 1 || got[0].Plain() != "YWI=" {
		t.Errorf("base64: %v %v", got, err)
	}
	got, err = sigma.EncodeValue(in("ab"), mods("base64offset", "contains"))
	if err != nil || len(got) != 3 {
		t.Errorf("base64offset: %v %v", got, err)
	}
	// windash before an encoding spells out the five dashes.
	got, err = sigma.EncodeValue(in("-x"), mods("windash", "utf16le", "base64offset"))
	if err != nil || len(got) != 15 {
		t.Errorf("windash+utf16le+base64offset: %d %v", len(got), err)
	}
	// windash alone leaves a dash class.
	got, err = sigma.EncodeValue(in("-x"), mods("windash"))
	if err != nil || len(got) != 1 || got[0][0].Kind != sigma.TokDash {
		t.Errorf("windash: %v %v", got, err)
	}
	if _, err := sigma.EncodeValue(in("a*"), mods("base64")); err == nil || !strings.Contains(err.Error(), `"base64" cannot encode a value with wildcards`) {
		t.Errorf("wildcard: %v", err)
	}
	if _, err := sigma.EncodeValue(in("-a-b-c-d-e"), mods("windash", "base64")); err == nil {
		t.Error("dash limit not enforced")
	}
}
