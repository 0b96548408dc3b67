package convert_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/convert"
	_ "github.com/vigil-detect/vigil/convert/kql"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/sigma"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestSigmaHQ converts every SigmaHQ rule to every target: each converts
// or fails with a positioned error naming the target; none panics.
func TestSigmaHQ(t *testing.T) {
	dir := corpus.Require(t, "sigma", "rules")
	coll, _ := sigma.LoadPaths(dir)
	for _, name := range convert.Targets() {
		b, _ := convert.Lookup(name)
		// As the CLI without --pipeline: kql applies microsoft_xdr.
		pipes, err := convert.DefaultPipelines(b)
		if err != nil {
			t.Fatal(err)
		}
		qs, errs := convert.Convert(coll, b, pipes, "")
		for _, e := range errs {
			msg := e.Error()
			if strings.Contains(msg, "internal error converting") || !strings.Contains(msg, ".yml") {
				t.Errorf("%s: unclear error: %s", name, msg)
			}
		}
		t.Logf("%s: %d converted, %d refused", name, len(qs), len(errs))
	}
}

// TestAdvisoryGolden converts the built-in advisory rules to every target
// with its Windows pipeline; go test -update rewrites testdata.
func TestAdvisoryGolden(t *testing.T) {
	coll, errs := advisory.Rules()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	cases := map[string][]string{"splunk": {"splunk_windows"}, "lucene": {"ecs_windows"}, "eql": {"ecs_windows"}, "esql": {"ecs_windows"}, "kql": {"microsoft_xdr"}}
	for _, name := range convert.Targets() {
		b, _ := convert.Lookup(name)
		var pipes []*convert.Pipeline
		for _, p := range cases[name] {
			pl, err := convert.LoadPipeline(p)
			if err != nil {
				t.Fatal(err)
			}
			pipes = append(pipes, pl)
		}
		qs, errs := convert.Convert(coll, b, pipes, "")
		var sb strings.Builder
		for _, q := range qs {
			sb.WriteString("# " + q.Title + "\n" + q.Text + "\n\n")
		}
		for _, e := range errs {
			sb.WriteString("# refused: " + e.Error() + "\n")
		}
		path := filepath.Join("testdata", "advisory."+name+".golden")
		if *update {
			os.MkdirAll("testdata", 0o755)
			if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if string(want) != sb.String() {
			t.Errorf("%s: output differs from %s (go test -update rewrites it):\n%s", name, path, sb.String())
		}
	}
}
