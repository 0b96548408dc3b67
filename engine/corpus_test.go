package engine_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/sigma"
)

func loadDir(tb testing.TB, dir string) []*sigma.Rule {
	var rules []*sigma.Rule
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".yml") {
			return nil
		}
		f, errs := sigma.ParseFile(p)
		for _, e := range errs {
			tb.Errorf("parse: %v", e)
		}
		rules = append(rules, f.Rules...)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rules
}

// TestCompileSigmaHQ compiles every usable SigmaHQ rule; none may fail.
func TestCompileSigmaHQ(t *testing.T) {
	root := corpus.Require(t, "sigma")
	for _, sub := range []string{"rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder", "rules-compliance", "deprecated"} {
		t.Run(sub, func(t *testing.T) {
			rules := loadDir(t, filepath.Join(root, sub))
			eng, errs := engine.Compile(rules, engine.Options{})
			for _, e := range errs {
				t.Error(e)
			}
			unrouted := 0
			for _, r := range eng.Rules() {
				if r.Unrouted {
					unrouted++
				}
			}
			for _, w := range eng.Warnings() {
				if testing.Verbose() && strings.Contains(w.Error(), "log source") {
					t.Log(w)
				}
			}
			t.Logf("%s: %d rules compiled, %d warnings, %d with unmapped log sources, %d schema fields", sub, len(eng.Rules()), len(eng.Warnings()), unrouted, eng.Schema().Len())
		})
	}
}
