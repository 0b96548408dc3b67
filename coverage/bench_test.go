package coverage_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/coverage"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// BenchmarkTally measures what vigil hunt adds per event to count log
// sources per host: the events of testdata/fleet, decoded and normalized
// once, counted in a loop (ns/op is per event).
func BenchmarkTally(b *testing.B) {
	tbl := mapping.Default()
	eng, errs := engine.Compile(nil, engine.Options{Mapping: tbl, Fields: tbl.Fields().Names()})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	norm, err := mapping.NewNormalizer(tbl.Fields(), tbl, eng.Schema())
	if err != nil {
		b.Fatal(err)
	}
	files, _ := filepath.Glob("../testdata/fleet/*.jsonl")
	var evs []*event.Event
	var d jsonl.Decoder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			e := event.New(eng.Schema())
			if err := jsonl.DecodeEvent(&d, []byte(l), e); err != nil {
				b.Fatal(err)
			}
			norm.Apply(e)
			evs = append(evs, e.Clone())
		}
	}
	count := coverage.NewTally().Worker()
	b.ResetTimer()
	for i := range b.N {
		count(evs[i%len(evs)])
	}
}
