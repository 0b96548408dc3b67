package sigmabench

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/vigil-detect/vigil/engine"
)

// Result is one timed engine-only run.
type Result struct {
	Engine  string
	Cores   int
	Events  int64
	Elapsed time.Duration // matching only
	CPU     time.Duration // CPU time of the process (all threads, GC included) while matching
	Allocs  uint64        // heap objects allocated while matching
	Matches int64
}

// EventsPerSec returns the throughput.
func (r Result) EventsPerSec() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

// EventsPerCPUSec returns the events matched per second of CPU time, the
// figure that stays stable when other jobs take the machine's cores.
func (r Result) EventsPerCPUSec() float64 {
	if r.CPU <= 0 {
		return 0
	}
	return float64(r.Events) / r.CPU.Seconds()
}

// AllocsPerEvent returns the heap allocations per event.
func (r Result) AllocsPerEvent() float64 { return float64(r.Allocs) / float64(r.Events) }

// share returns the lines of worker w of k: those with index i%k == w.
func share(lines [][]byte, w, k int) [][]byte {
	var out [][]byte
	for i := w; i < len(lines); i += k {
		out = append(out, lines[i])
	}
	return out
}

// shareLen returns how many of the first n lines belong to worker w of k.
func shareLen(n, w, k int) int {
	if n <= w {
		return 0
	}
	return (n-w-1)/k + 1
}

// passes runs n events through k workers in passes over the distinct
// events. Before each pass, prepare(w) runs on every worker (untimed);
// then match(w, count) runs on every worker, timed as a whole from the
// moment all workers are ready to the moment the last one finishes, with
// the heap allocations counted over the same window.
func passes(distinct int, n int64, k int, prepare func(w int), match func(w, count int) int64) (elapsed, cpu time.Duration, allocs uint64, matches int64) {
	var ms runtime.MemStats
	res := make([]int64, k)
	for done := int64(0); done < n; {
		c := distinct
		if rem := n - done; rem < int64(c) {
			c = int(rem)
		}
		if prepare != nil {
			var wg sync.WaitGroup
			for w := range k {
				wg.Go(func() { prepare(w) })
			}
			wg.Wait()
		}
		runtime.ReadMemStats(&ms)
		a0 := ms.Mallocs
		c0 := cpuTime()
		start := time.Now()
		var wg sync.WaitGroup
		for w := range k {
			wg.Go(func() { res[w] = match(w, shareLen(c, w, k)) })
		}
		wg.Wait()
		elapsed += time.Since(start)
		cpu += cpuTime() - c0
		runtime.ReadMemStats(&ms)
		allocs += ms.Mallocs - a0
		for _, m := range res {
			matches += m
		}
		done += int64(c)
	}
	return elapsed, cpu, allocs, matches
}

// RunVigil matches n events (cycling through the distinct lines) with
// vigil's engine on k goroutines sharing the engine, each with its own
// engine.Matcher (as the hunt workers do), with GOMAXPROCS set to k.
// Events are decoded before timing; each worker owns its events. The
// timed work per event is the field normalization and the match.
func RunVigil(v *Vigil, lines [][]byte, n int64, k int) Result {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(k))
	sets := make([]*vigilSet, k)
	ms := make([]*engine.Matcher, k)
	counts := make([][]int64, k)
	for w := range k {
		sets[w] = newVigilSet(v.Eng, share(lines, w, k))
		ms[w] = v.Eng.NewMatcher()
		counts[w] = make([]int64, len(v.Eng.Rules()))
	}
	runtime.GC()
	el, cpu, al, m := passes(len(lines), n, k,
		func(w int) { sets[w].decode() },
		func(w, c int) int64 { return sets[w].match(v.Norm, ms[w], c, counts[w]) })
	return Result{Engine: "vigil", Cores: k, Events: n, Elapsed: el, CPU: cpu, Allocs: al, Matches: m}
}

// RunPeer matches n events (cycling through the distinct lines) with the
// peer on k goroutines, each with its own rule set (peers[w]), with
// GOMAXPROCS set to k. Events are decoded into maps before timing. routed
// dispatches each event to its log-source group of rules (Peer.Group), as
// the peer's users run it; otherwise every rule is tested on every event.
func RunPeer(peers []*Peer, lines [][]byte, n int64, k int, routed bool) (Result, error) {
	if len(peers) < k {
		return Result{}, fmt.Errorf("need %d peer rule sets, have %d", k, len(peers))
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(k))
	evs := make([][]PeerEvent, k)
	counts := make([][]int64, k)
	for w := range k {
		for _, l := range share(lines, w, k) {
			e, err := DecodePeer(l)
			if err != nil {
				return Result{}, err
			}
			evs[w] = append(evs[w], e)
		}
		counts[w] = make([]int64, len(peers[w].RS.Rules))
	}
	runtime.GC()
	el, cpu, al, m := passes(len(lines), n, k, nil, func(w, c int) int64 {
		var total int64
		p := peers[w]
		for _, e := range evs[w][:c] {
			if routed {
				total += p.matchRouted(e, counts[w])
			} else {
				total += p.matchAll(e, counts[w])
			}
		}
		return total
	})
	name := "peer"
	if routed {
		name = "peer routed"
	}
	return Result{Engine: name, Cores: k, Events: n, Elapsed: el, CPU: cpu, Allocs: al, Matches: m}, nil
}
