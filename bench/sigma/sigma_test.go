package sigmabench

import (
	"os"
	"slices"
	"sync"
	"testing"
)

var (
	setupOnce sync.Once
	setupErr  error
	bEvents   *Events
	bVigil    *Vigil
	bPeer     *Peer // NoCollapseWS: true, the peer's fastest configuration
)

func setup(b *testing.B) {
	b.Helper()
	setupOnce.Do(func() {
		dir := CorpusDir()
		if dir == "" {
			return
		}
		if bEvents, setupErr = LoadEvents(DefaultEvents(dir)); setupErr != nil {
			return
		}
		if bVigil, setupErr = LoadVigil(DefaultRules(dir)); setupErr != nil {
			return
		}
		bPeer, setupErr = LoadPeer(DefaultRules(dir), true)
	})
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	if bEvents == nil {
		if os.Getenv("CI") != "" {
			b.Fatal("shared corpus not found (set VIGIL_CORPUS)")
		}
		b.Skip("shared corpus not found (set VIGIL_CORPUS or place it at ../shared/corpus); skipping")
	}
}

// BenchmarkVigilMatch normalizes and matches one pre-decoded OTRF event
// per op against the SigmaHQ Windows rules with vigil's engine, on one
// goroutine. The
// events are re-decoded (untimed) after each pass over them, so that
// their lower-case caches start cold.
func BenchmarkVigilMatch(b *testing.B) {
	setup(b)
	s := newVigilSet(bVigil.Eng, bEvents.Lines)
	m := bVigil.Eng.NewMatcher()
	counts := make([]int64, len(bVigil.Eng.Rules()))
	n := len(s.evs)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		c := min(n, b.N-done)
		s.match(bVigil.Norm, m, c, counts)
		done += c
		if done < b.N {
			b.StopTimer()
			s.decode()
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPeerMatch matches one pre-decoded OTRF event per op (a map from
// encoding/json) against the SigmaHQ Windows rules the peer loads, on one
// goroutine, with NoCollapseWS set (with the default, whitespace
// collapsing by regular expression on every comparison, the peer is
// about 500 times slower).
func BenchmarkPeerMatch(b *testing.B) {
	setup(b)
	var evs []PeerEvent
	for _, l := range bEvents.Lines {
		e, err := DecodePeer(l)
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, e)
	}
	counts := make([]int64, len(bPeer.RS.Rules))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		bPeer.matchAll(evs[i%len(evs)], counts)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPeerDecode decodes one OTRF line per op with encoding/json into
// map[string]interface{}, the peer's input.
func BenchmarkPeerDecode(b *testing.B) {
	setup(b)
	b.ReportAllocs()
	b.SetBytes(bEvents.Bytes / int64(len(bEvents.Lines)))
	for i := range b.N {
		if _, err := DecodePeer(bEvents.Lines[i%len(bEvents.Lines)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestSrcFilter checks the log-source check used to classify the peer's
// matches.
func TestSrcFilter(t *testing.T) {
	dir := CorpusDir()
	if dir == "" {
		t.Skip("shared corpus not found")
	}
	p, err := LoadPeer(DefaultRules(dir)+"/process_creation", true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.RS.Rules {
		if !p.Applies(i, PeerEvent{"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": float64(1)}) {
			t.Errorf("%s: a process_creation rule does not cover Sysmon event 1", p.RS.Rules[i].Rule.Path)
		}
		if p.Applies(i, PeerEvent{"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": float64(11)}) {
			t.Errorf("%s: a process_creation rule covers Sysmon event 11", p.RS.Rules[i].Rule.Path)
		}
	}
}

// TestPeerGroup checks the routed peer's dispatch: the group of an event
// holds exactly the rules whose log source covers it, for every distinct
// (channel, event id) of the flattened EVTX corpus.
func TestPeerGroup(t *testing.T) {
	dir := CorpusDir()
	if dir == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("shared corpus not found (set VIGIL_CORPUS)")
		}
		t.Skip("shared corpus not found")
	}
	ev, err := LoadEVTXEvents(DefaultEVTX(dir))
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadPeer(DefaultRules(dir), true)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[2]string]bool{}
	for _, l := range ev.Lines {
		e, err := DecodePeer(l)
		if err != nil {
			t.Fatal(err)
		}
		k := [2]string{e.Channel(), e.EventID()}
		if seen[k] {
			continue
		}
		seen[k] = true
		var want []int
		for i := range p.RS.Rules {
			if p.Applies(i, e) {
				want = append(want, i)
			}
		}
		if got := p.Group(k[0], k[1]); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("channel %q event %q: group of %d rules, want %d", k[0], k[1], len(got), len(want))
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct channel and event id pairs", len(seen))
	}
}
