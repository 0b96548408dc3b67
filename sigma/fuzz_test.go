package sigma_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-detect/vigil/sigma"
)

// FuzzParse checks that the rule loader never panics on arbitrary bytes,
// and that every problem it reports is a positioned *sigma.Error. The seed
// corpus (testdata/fuzz/FuzzParse) holds real-looking rules, a collection,
// a correlation and a filter; the golden error cases are added as seeds
// too.
func FuzzParse(f *testing.F) {
	cases, _ := filepath.Glob(filepath.Join("testdata", "errors", "*", "rule.yml"))
	for _, c := range cases {
		if data, err := os.ReadFile(c); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, errs := sigma.Parse("fuzz.yml", data)
		if file == nil {
			t.Fatal("Parse returned a nil File")
		}
		for _, e := range errs {
			se, ok := e.(*sigma.Error)
			if !ok {
				t.Fatalf("error %T %v is not a *sigma.Error", e, e)
			}
			if se.Pos.File != "fuzz.yml" {
				t.Fatalf("error %v names file %q", e, se.Pos.File)
			}
		}
		for _, r := range file.Rules {
			for _, c := range r.Detection.Conditions {
				if c.Expr == nil {
					t.Fatalf("rule %q loaded with an unparsed condition %q", r.Title, c.Text)
				}
			}
		}
	})
}
