package engine_test

import (
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/sigma"
)

// TestCompileErrors checks that meaningless modifier chains and bad values
// are refused, with the position of the culprit (line 6 holds the item).
func TestCompileErrors(t *testing.T) {
	tests := []struct {
		item string
		pos  string // line:col
		msg  string
	}{
		{`CommandLine|contains|base64: x`, "6:21", `modifier "contains" before an encoding would be encoded away`},
		{`X|base64: 'a*'`, "6:11", `modifier "base64" cannot encode a value with wildcards`},
		{`X|wide|base64offset|contains: 'a?'`, "6:11", `modifier "wide" cannot encode a value with wildcards`},
		{`Port|gt|contains: 5`, "6:17", `modifier "contains" cannot be combined with "gt"`},
		{`Port|gt|lt: 5`, "6:17", `modifiers "gt" and "lt" cannot be combined`},
		{`X|re|cidr: 'a'`, "6:14", `modifiers "re" and "cidr" cannot be combined`},
		{`X|i: a`, "6:11", `modifier "i" is a flag of "re" and needs it`},
		{`X|re: '('`, "6:15", "bad regular expression"},
		{`X|cidr: 'not/ip'`, "6:17", `bad CIDR range "not/ip"`},
		{`X|gt: abc`, "6:15", `modifier "gt" needs a number`},
		{`X|hour: noon`, "6:17", `time modifier "hour" needs a number`},
		{`X|exists: maybe`, "6:19", `exists takes true or false, not "maybe"`},
		{`X|exists: [true, false]`, "6:9", `exists takes one value`},
		{`X|contains|contains: a`, "6:20", `modifier "contains" given twice`},
		{`X: [a, null]`, "6:9", `null cannot be mixed with other values`},
		{`'|exists': true`, "6:11", `modifier "exists" needs a field`},
		{`X|fieldref|re: Y`, "6:20", `modifiers "fieldref" and "re" cannot be combined`},
		{`X|base64|windash: a`, "6:18", `modifier "windash" must come before the encodings`},
		{`X|utf16le|wide: a`, "6:19", `modifiers "utf16le" and "wide" cannot be combined`},
		{`X|exists|neq: true`, "6:11", `modifier "exists" stands alone`},
		{`X|windash|base64: '-a-b-c-d-e'`, "6:19", `windash gives more than 625 dash combinations`},
	}
	for _, tt := range tests {
		src := "title: t\nid: t\nlogsource: {product: windows}\ndetection:\n    sel:\n        " + tt.item + "\n    condition: sel\n"
		f, errs := sigma.Parse("r.yml", []byte(src))
		if len(errs) > 0 {
			t.Errorf("%s: parse: %v", tt.item, errs)
			continue
		}
		_, cerrs := engine.Compile(f.Rules, engine.Options{})
		if len(cerrs) != 1 {
			t.Errorf("%s: Compile errors = %v, want one", tt.item, cerrs)
			continue
		}
		want := "r.yml:" + tt.pos + ": "
		if got := cerrs[0].Error(); !strings.HasPrefix(got, want) || !strings.Contains(got, tt.msg) {
			t.Errorf("%s:\n got: %s\nwant: %s...%s", tt.item, got, want, tt.msg)
		}
	}
}

// TestSchemaKeywords checks that the schema tells readers to keep every
// field exactly when some rule has a keyword search.
func TestSchemaKeywords(t *testing.T) {
	for _, tt := range []struct {
		detection string
		want      bool
	}{
		{"    sel:\n        Image: x\n    condition: sel\n", false},
		{"    kw:\n        - mimikatz\n    condition: kw\n", true},
		{"    kw:\n        '|all': [a, b]\n    condition: kw\n", true},
	} {
		src := "title: t\nlogsource: {product: windows}\ndetection:\n" + tt.detection
		f, errs := sigma.Parse("r.yml", []byte(src))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		eng, cerrs := engine.Compile(f.Rules, engine.Options{})
		if len(cerrs) > 0 {
			t.Fatal(cerrs)
		}
		if got := eng.Schema().Keywords; got != tt.want {
			t.Errorf("%q: Schema().Keywords = %v, want %v", tt.detection, got, tt.want)
		}
	}
}
