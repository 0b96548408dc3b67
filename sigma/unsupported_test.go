package sigma_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/sigma"
)

// TestUnsupportedCorpus parses every file of SigmaHQ's unsupported/ folder
// (rules that SigmaHQ's own tooling cannot convert, mostly Sigma v1
// aggregations) and records in testdata/unsupported.golden whether each
// loads, with its warnings, or fails, with its precise errors.
func TestUnsupportedCorpus(t *testing.T) {
	root := corpus.Require(t, "sigma", "unsupported")
	files := ruleFiles(t, root)
	if len(files) == 0 {
		t.Fatal("no files in unsupported/")
	}
	var out bytes.Buffer
	loaded, failed := 0, 0
	for _, path := range files {
		rel, err := filepath.Rel(root, path)
		if err != nil {
			t.Fatal(err)
		}
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, errs := sigma.Parse(rel, data)
		docs := len(f.Rules) + len(f.Correlations) + len(f.Filters)
		if len(errs) == 0 {
			loaded++
			aggs := 0
			for _, r := range f.Rules {
				if r.Detection.Aggregation != nil {
					aggs++
				}
			}
			fmt.Fprintf(&out, "%s: loads: %d rules (%d with a v1 aggregation), %d correlations, %d filters\n", rel, len(f.Rules), aggs, len(f.Correlations), len(f.Filters))
		} else {
			failed++
			fmt.Fprintf(&out, "%s: fails (%d documents load)\n", rel, docs)
			for _, e := range errs {
				se, ok := e.(*sigma.Error)
				if !ok || se.Pos.Line == 0 {
					t.Errorf("%s: error without a position: %v", rel, e)
				}
				fmt.Fprintf(&out, "\terror: %v\n", e)
			}
		}
		for _, w := range f.Warnings {
			fmt.Fprintf(&out, "\twarning: %v\n", w)
		}
	}
	fmt.Fprintf(&out, "# %d files: %d load, %d fail\n", len(files), loaded, failed)
	checkGolden(t, filepath.Join("testdata", "unsupported.golden"), out.Bytes())
}
