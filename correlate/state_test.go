package correlate_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// matches decodes a case's events into the matches of the rules its
// correlations read, in line order.
func (tc *testCase) matches(t testing.TB) []correlate.Match {
	var dec jsonl.Decoder
	ev := event.New(tc.eng.Schema())
	var ms []correlate.Match
	for i, l := range tc.lines {
		if len(l) == 0 {
			continue
		}
		if err := jsonl.DecodeEvent(&dec, l, ev); err != nil {
			t.Fatal(err)
		}
		ev.Source = event.Source{Path: "events.jsonl", Line: int64(i + 1)}
		rules, err := tc.eng.Match(ev, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			if !tc.set.Feeds(r.Sigma) {
				continue
			}
			a := &alert.Alert{Rule: alert.Rule{ID: r.ID(), Title: r.Sigma.Title, Type: "detection"}, Host: ev.Host()}
			ae := alert.FromEvent(ev)
			a.Timestamp, a.Events = ae.Timestamp, []alert.Event{ae}
			ms = append(ms, correlate.MatchFromAlert(r.Sigma, a, uint64(i)))
		}
	}
	return ms
}

// TestStateRoundTrip streams every case's matches through a Reorderer
// and a Processor, and at every position saves both states, restores
// them into new ones and goes on: the alerts (as JSON, byte for byte) and
// the counters must be those of the uninterrupted run.
func TestStateRoundTrip(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*/rules.yml")
	for _, d := range dirs {
		dir := filepath.Dir(d)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			tc := loadCase(t, dir)
			ms := tc.matches(t)
			// reversed: most matches arrive late and are held
			slices.Reverse(ms)
			run := func(cut int) ([]string, correlate.Stats, int64) {
				var out []string
				opts := correlate.Options{Emit: func(a *alert.Alert) { out = append(out, jsonOf(t, a)) }}
				p := correlate.NewProcessor(tc.set, opts)
				r := &correlate.Reorderer{Lateness: time.Hour}
				for i, m := range ms {
					if i == cut {
						ps, err := p.MarshalState()
						if err != nil {
							t.Fatal(err)
						}
						rs, err := r.MarshalState()
						if err != nil {
							t.Fatal(err)
						}
						p = correlate.NewProcessor(tc.set, opts)
						r = &correlate.Reorderer{Lateness: time.Hour}
						if err := p.UnmarshalState(ps); err != nil {
							t.Fatal(err)
						}
						if err := r.UnmarshalState(rs, tc.set); err != nil {
							t.Fatal(err)
						}
					}
					r.Add(m, p.Process)
				}
				r.Flush(p.Process)
				p.Flush()
				return out, p.Stats(), r.Late
			}
			want, wantSt, wantLate := run(-1)
			for cut := range len(ms) {
				got, st, late := run(cut)
				if !slices.Equal(got, want) || st != wantSt || late != wantLate {
					t.Fatalf("cut at %d:\n%v %+v %d\nwant\n%v %+v %d", cut, got, st, late, want, wantSt, wantLate)
				}
			}
		})
	}
}

func jsonOf(t testing.TB, a *alert.Alert) string {
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzUnmarshalState restores arbitrary bytes as a processor's and a
// reorderer's state, then correlates a case's matches: a bad snapshot is
// an error, never a crash.
func FuzzUnmarshalState(f *testing.F) {
	tc := loadCase(f, "testdata/temporal_ordered")
	ms := tc.matches(f)
	p := correlate.NewProcessor(tc.set, correlate.Options{})
	r := &correlate.Reorderer{Lateness: time.Minute}
	for _, m := range ms[:len(ms)/2] {
		r.Add(m, p.Process)
	}
	ps, _ := p.MarshalState()
	rs, _ := r.MarshalState()
	f.Add(ps, rs)
	f.Add([]byte(`{"items":[{"ev":[5]}]}`), []byte(`{"held":[{"rule":"x"}]}`))
	f.Add([]byte(`{"corrs":[{"key":"","groups":[{"key":"a","items":[-1]}]}]}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, ps, rs []byte) {
		p := correlate.NewProcessor(tc.set, correlate.Options{})
		r := &correlate.Reorderer{Lateness: time.Minute}
		if p.UnmarshalState(ps) != nil || r.UnmarshalState(rs, tc.set) != nil {
			return
		}
		for _, m := range ms {
			r.Add(m, p.Process)
		}
		r.Flush(p.Process)
		p.Flush()
	})
}
