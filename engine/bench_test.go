package engine_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/sigma"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// otrfLines reads the OTRF host JSON Lines of the corpus (about 15,500
// flat Windows events: Sysmon, Security, PowerShell...).
func otrfLines(b *testing.B) ([][]byte, int64) {
	b.Helper()
	dir := corpus.Require(b, "otrf")
	files, err := filepath.Glob(filepath.Join(dir, "*", "host", "*.json"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no OTRF host files under %s (%v)", dir, err)
	}
	sort.Strings(files)
	var lines [][]byte
	var size int64
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
				lines = append(lines, bytes.Clone(l))
				size += int64(len(l))
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
	}
	return lines, size
}

// windowsEngine compiles every SigmaHQ Windows rule the way `vigil hunt
// --rules` does: default log-source and field mappings, with the field
// normalizer the hunt applies to events before matching.
func windowsEngine(b *testing.B) (*engine.Engine, *mapping.Normalizer) {
	b.Helper()
	dir := corpus.Require(b, "sigma", "rules", "windows")
	coll, errs := sigma.LoadPaths(dir)
	if len(errs) > 0 {
		b.Fatalf("%d rule errors, first: %v", len(errs), errs[0])
	}
	tbl := mapping.Default()
	eng, cerrs := engine.Compile(coll.Rules, engine.Options{Mapping: tbl, Filters: coll.Filters, Fields: tbl.Fields().Names()})
	if len(cerrs) > 0 {
		b.Fatalf("%d compile errors, first: %v", len(cerrs), cerrs[0])
	}
	norm, err := mapping.NewNormalizer(tbl.Fields(), tbl, eng.Schema())
	if err != nil {
		b.Fatal(err)
	}
	return eng, norm
}

// BenchmarkMatchSigmaHQWindows matches one event per op against every
// SigmaHQ Windows rule (about 2,400) on one goroutine, with an
// engine.Matcher as the hunt workers use. The OTRF events are decoded with
// jsonl.Decoder (and normalized) beforehand, each into its own
// event.Event; after each pass over them they are decoded again with the
// timer stopped, so that their lower-case caches start cold as they do in
// a hunt. allocs/op is allocations per event.
func BenchmarkMatchSigmaHQWindows(b *testing.B) {
	eng, norm := windowsEngine(b)
	lines, _ := otrfLines(b)
	decs := make([]jsonl.Decoder, len(lines))
	evs := make([]*event.Event, len(lines))
	for i := range evs {
		evs[i] = event.New(eng.Schema())
	}
	decode := func() {
		for i, l := range lines {
			if err := jsonl.DecodeEvent(&decs[i], l, evs[i]); err != nil {
				b.Fatalf("event %d: %v", i, err)
			}
			norm.Apply(evs[i])
		}
	}
	decode()
	m := eng.NewMatcher()
	var dst []*engine.Rule
	matches := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(evs)
		if k == 0 && i > 0 {
			b.StopTimer()
			decode()
			b.StartTimer()
		}
		var err error
		if dst, err = m.Match(evs[k], dst[:0]); err != nil {
			b.Fatal(err)
		}
		matches += len(dst)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(matches)/float64(b.N), "matches/op")
}

// BenchmarkDecodeJSONL decodes one OTRF line per op into a reused event
// with the engine's schema (all SigmaHQ Windows rules), as a hunt worker
// does before matching.
func BenchmarkDecodeJSONL(b *testing.B) {
	eng, _ := windowsEngine(b)
	lines, size := otrfLines(b)
	ev := event.New(eng.Schema())
	var dec jsonl.Decoder
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := jsonl.DecodeEvent(&dec, lines[i%len(lines)], ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkHuntWorker is one hunt worker's whole per-event work on one
// core: decode an OTRF line, apply the field mapping, match all SigmaHQ
// Windows rules. Unlike BenchmarkMatchSigmaHQWindows, the event is hot in
// the cache when it is matched, as it is in a hunt.
func BenchmarkHuntWorker(b *testing.B) {
	eng, norm := windowsEngine(b)
	lines, size := otrfLines(b)
	ev := event.New(eng.Schema())
	var dec jsonl.Decoder
	m := eng.NewMatcher()
	var dst []*engine.Rule
	matches := 0
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := jsonl.DecodeEvent(&dec, lines[i%len(lines)], ev); err != nil {
			b.Fatal(err)
		}
		norm.Apply(ev)
		var err error
		if dst, err = m.Match(ev, dst[:0]); err != nil {
			b.Fatal(err)
		}
		matches += len(dst)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(matches)/float64(b.N), "matches/op")
}
