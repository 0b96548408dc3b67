package sigmabench

import (
	"time"

	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/sigma"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// Vigil is vigil's engine compiled from a rules folder, as `vigil hunt
// --rules DIR` compiles it: default log-source and field mappings,
// filters applied, and the field normalizer the hunt applies to each
// event before matching.
type Vigil struct {
	Eng  *engine.Engine
	Norm *mapping.Normalizer
	// Files is the number of rule files read; Loaded the number of rules
	// compiled; Failed the documents that did not parse plus the rules
	// that did not compile; Unrouted the compiled rules whose log source
	// is not in the mapping (never run).
	Files, Loaded, Failed, Unrouted int
	Load                            time.Duration
}

// LoadVigil parses and compiles the rules under dir.
func LoadVigil(dir string) (*Vigil, error) {
	start := time.Now()
	coll, _ := sigma.LoadPaths(dir)
	tbl, err := mapping.Load()
	if err != nil {
		return nil, err
	}
	eng, cerrs := engine.Compile(coll.Rules, engine.Options{Mapping: tbl, Filters: coll.Filters, Fields: tbl.Fields().Names()})
	norm, err := mapping.NewNormalizer(tbl.Fields(), tbl, eng.Schema())
	if err != nil {
		return nil, err
	}
	v := &Vigil{Eng: eng, Norm: norm, Files: coll.Files, Loaded: len(eng.Rules()), Failed: coll.Failed + len(cerrs), Load: time.Since(start)}
	for _, r := range eng.Rules() {
		if r.Unrouted {
			v.Unrouted++
		}
	}
	return v, nil
}

// RuleIDs returns the id of each compiled rule, by rule index.
func (v *Vigil) RuleIDs() []string {
	ids := make([]string, len(v.Eng.Rules()))
	for i, r := range v.Eng.Rules() {
		ids[i] = r.ID()
	}
	return ids
}

// vigilSet is a set of events decoded for vigil: each event has its own
// decoder, since an event's strings point into its decoder's arena.
type vigilSet struct {
	lines [][]byte
	decs  []jsonl.Decoder
	evs   []*event.Event
}

func newVigilSet(eng *engine.Engine, lines [][]byte) *vigilSet {
	s := &vigilSet{lines: lines, decs: make([]jsonl.Decoder, len(lines)), evs: make([]*event.Event, len(lines))}
	for i := range lines {
		s.evs[i] = event.New(eng.Schema())
	}
	s.decode()
	return s
}

// decode (re)decodes every event. Re-decoding resets each event's cache of
// lower-cased values, so that every timed pass pays for case folding as
// the hunt pipeline does.
func (s *vigilSet) decode() {
	for i, l := range s.lines {
		if err := jsonl.DecodeEvent(&s.decs[i], l, s.evs[i]); err != nil {
			panic(err) // the corpus lines are valid JSON objects
		}
	}
}

// match does what a hunt worker does to each decoded event short of
// building alerts: it normalizes the first n events and matches them with
// m, adding one to counts[rule index] per match. It returns the number of
// matches.
func (s *vigilSet) match(norm *mapping.Normalizer, m *engine.Matcher, n int, counts []int64) int64 {
	var dst []*engine.Rule
	var total int64
	for _, e := range s.evs[:n] {
		norm.Apply(e)
		dst, _ = m.Match(e, dst[:0])
		for _, r := range dst {
			counts[r.Index]++
		}
		total += int64(len(dst))
	}
	return total
}
