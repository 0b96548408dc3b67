package sigmabench

import (
	"bufio"
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"time"
)

// HuntResult is what the peer's end-to-end harness reports.
type HuntResult struct {
	Cores    int     `json:"cores"`
	Routed   bool    `json:"routed"`
	Events   int64   `json:"events"`
	Bad      int64   `json:"bad_lines"`
	LoadSec  float64 `json:"load_seconds"`      // loading one rule set per worker, in parallel
	MatchSec float64 `json:"match_seconds"`     // reading, decoding and matching
	MatchCPU float64 `json:"match_cpu_seconds"` // process CPU time (user + system) while reading, decoding and matching
	// Raw counts every match; True only those on events the rule's log
	// source covers.
	Raw  int64            `json:"matches_raw"`
	True int64            `json:"matches_true"`
	Rule map[string]int64 `json:"true_by_rule"`
}

type huntBatch struct {
	buf  []byte
	ends []int
}

// PeerHunt is the peer's counterpart of `vigil hunt`: it loads the rules
// once per worker (the peer's rule set is not documented as safe for
// concurrent use), reads the JSON Lines file line by line, and has the
// workers decode each line with encoding/json into map[string]interface{}
// and match it against every rule. Nothing is written per match; matches
// are counted per rule. limit, when positive, stops after that many lines.
// routed dispatches each event to the rules of its log-source group
// (Peer.Group) instead of testing every rule.
func PeerHunt(rulesDir, path string, workers int, noCollapseWS, routed bool, limit int64) (*HuntResult, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	res := &HuntResult{Cores: workers, Routed: routed, Rule: map[string]int64{}}
	start := time.Now()
	peers := make([]*Peer, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { peers[w], errs[w] = LoadPeer(rulesDir, noCollapseWS) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	res.LoadSec = time.Since(start).Seconds()

	start = time.Now()
	cpu0 := cpuTime()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	free := make(chan *huntBatch, workers*4)
	for range cap(free) {
		free <- &huntBatch{}
	}
	work := make(chan *huntBatch, workers*2)
	type tally struct {
		events, bad, raw, true_ int64
		byRule                  []int64
	}
	tallies := make([]tally, workers)
	for w := range workers {
		wg.Go(func() {
			p := peers[w]
			t := &tallies[w]
			t.byRule = make([]int64, len(p.RS.Rules))
			for b := range work {
				s := 0
				for _, end := range b.ends {
					e, err := DecodePeer(b.buf[s:end])
					s = end
					if err != nil {
						t.bad++
						continue
					}
					t.events++
					if routed {
						for _, i := range p.Group(e.Channel(), e.EventID()) {
							if m, ok := p.RS.Rules[i].Match(e); m && ok {
								t.raw++
								t.true_++
								t.byRule[i]++
							}
						}
						continue
					}
					for i, tr := range p.RS.Rules {
						if m, ok := tr.Match(e); m && ok {
							t.raw++
							if p.Applies(i, e) {
								t.true_++
								t.byRule[i]++
							}
						}
					}
				}
				free <- b
			}
		})
	}
	br := bufio.NewReaderSize(f, 1<<20)
	b := <-free
	b.buf, b.ends = b.buf[:0], b.ends[:0]
	var readErr error
	var lines int64
	for limit <= 0 || lines < limit {
		line, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			b.buf = append(b.buf, line...)
			line, err = br.ReadSlice('\n')
		}
		b.buf = append(b.buf, line...)
		if n := len(b.buf); n > 0 && b.buf[n-1] == '\n' {
			b.buf = b.buf[:n-1]
		}
		if len(b.buf) > 0 && (len(b.ends) == 0 || len(b.buf) > b.ends[len(b.ends)-1]) {
			b.ends = append(b.ends, len(b.buf))
			lines++
		}
		if len(b.ends) >= 512 || (err != nil || lines == limit) && len(b.ends) > 0 {
			work <- b
			b = <-free
			b.buf, b.ends = b.buf[:0], b.ends[:0]
		}
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
	}
	close(work)
	wg.Wait()
	res.MatchSec = time.Since(start).Seconds()
	res.MatchCPU = (cpuTime() - cpu0).Seconds()
	if readErr != nil {
		return nil, readErr
	}
	ids := peers[0].RuleIDs()
	for _, t := range tallies {
		res.Events += t.events
		res.Bad += t.bad
		res.Raw += t.raw
		res.True += t.true_
		for i, n := range t.byRule {
			if n > 0 {
				res.Rule[ids[i]] += n
			}
		}
	}
	return res, nil
}
