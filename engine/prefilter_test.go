package engine_test

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// TestPrefilterChangesNothing matches the OTRF events against every
// SigmaHQ Windows rule with and without the literal pre-filter: the
// pre-filter may only skip rules that cannot match.
func TestPrefilterChangesNothing(t *testing.T) {
	rules := loadDir(t, corpus.Require(t, "sigma", "rules", "windows"))
	files, _ := filepath.Glob(filepath.Join(corpus.Require(t, "otrf"), "*", "host", "*.json"))
	if len(files) == 0 {
		t.Fatal("no OTRF files")
	}
	eng, errs := engine.Compile(rules, engine.Options{})
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	fast, slow := eng.NewMatcher(), eng.NewMatcher()
	slow.Unfiltered = true
	ev := event.New(eng.Schema())
	var dec jsonl.Decoder
	n, matches := 0, 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			if err := dec.Decode(sc.Bytes(), ev); err != nil {
				continue
			}
			n++
			a, _ := fast.Match(ev, nil)
			b, _ := slow.Match(ev, nil)
			if !slices.Equal(a, b) {
				t.Fatalf("%s event %d: pre-filter %v, full %v", f, n, ids(a), ids(b))
			}
			matches += len(a)
		}
		fh.Close()
	}
	if matches == 0 {
		t.Fatal("no matches at all: the comparison proves nothing")
	}
	t.Logf("%d events, %d matches, identical with and without the pre-filter", n, matches)
}

func ids(rs []*engine.Rule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID())
	}
	return out
}
