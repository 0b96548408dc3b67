package convert_test

import (
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/sigma"
)

// TestLuceneRangeLikeValues: a value starting with < or > is written so
// that Elasticsearch does not read a range: quoted, or with wildcards as
// a regular expression.
func TestLuceneRangeLikeValues(t *testing.T) {
	r := rule("process_creation", "    sel:\n        Image:\n            - '<unknown process>'\n            - x\n        ParentImage|startswith: '>p'\n    condition: sel\n")
	got, err := convertWith(t, "lucene", "", r)
	want := `(Image:"\<unknown\ process\>" OR Image:x) AND ParentImage:/\>p(.)*/`
	if err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}

// TestElasticClauseWarning: more than 1,024 clauses convert with a
// warning on every Elastic target.
func TestElasticClauseWarning(t *testing.T) {
	var b strings.Builder
	b.WriteString("    sel:\n        CommandLine|contains:\n")
	for i := 0; i < 1100; i++ {
		b.WriteString("            - 'v" + strings.Repeat("y", i/26) + string(rune('a'+i%26)) + "'\n")
	}
	b.WriteString("    condition: sel\n")
	f, errs := sigma.Parse("t.yml", []byte(rule("process_creation", b.String())))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, target := range []string{"lucene", "eql", "esql"} {
		be, _ := convert.Lookup(target)
		qs, cerrs := convert.Convert(&sigma.Collection{Rules: f.Rules}, be, nil, "")
		if len(cerrs) > 0 || len(qs) != 1 || len(qs[0].Warnings) != 1 || !strings.Contains(qs[0].Warnings[0].Error(), "1100 clauses") {
			t.Errorf("%s: %d queries, errors %v, warnings %v", target, len(qs), cerrs, qs[0].Warnings)
		}
	}
}
