package sigma_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/sigma"
)

func ruleFiles(tb testing.TB, dir string) []string {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// TestParseSigmaHQ parses every SigmaHQ rule that is meant to be usable;
// none may have a problem.
func TestParseSigmaHQ(t *testing.T) {
	root := corpus.Require(t, "sigma")
	for _, sub := range []string{"rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder", "rules-compliance", "deprecated"} {
		t.Run(sub, func(t *testing.T) {
			files := ruleFiles(t, filepath.Join(root, sub))
			n := 0
			for _, f := range files {
				file, errs := sigma.ParseFile(f)
				for _, e := range errs {
					t.Error(e)
				}
				n += len(file.Rules) + len(file.Correlations) + len(file.Filters)
			}
			if n < len(files) {
				t.Errorf("%d documents from %d files", n, len(files))
			}
			t.Logf("%s: %d files, %d documents", sub, len(files), n)
		})
	}
}
