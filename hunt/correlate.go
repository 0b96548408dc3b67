package hunt

import (
	"slices"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/sigma"
)

// corrMatch is a detection match that correlations read, kept until the
// end of the hunt.
type corrMatch struct {
	rule  *sigma.Rule
	alert *alert.Alert
}

// correlator runs the correlation stage over the matches collected from
// every input, in event-time order (input position breaking ties), so
// that the result does not depend on the order of files or lines. The
// matches wait in a buffer until the end of the hunt, up to limit of
// them (--max-groups): when the buffer is full, the older half is sorted
// and correlated, so memory stays bounded whatever the input; a match
// older than those already correlated is still correlated, and counted
// as late.
type correlator struct {
	p       *correlate.Processor
	pending []correlate.Match
	limit   int
	out     []*alert.Alert
}

func newCorrelator(opts Options) *correlator {
	c := &correlator{limit: opts.MaxGroups}
	if c.limit <= 0 {
		c.limit = correlate.DefaultMaxGroups
	}
	c.p = correlate.NewProcessor(opts.Correlations, correlate.Options{
		MaxGroups: opts.MaxGroups,
		Enrich:    opts.Enrich,
		Identity:  opts.Identity,
		Emit:      func(a *alert.Alert) { c.out = append(c.out, a) },
	})
	return c
}

// add takes one match.
func (c *correlator) add(m correlate.Match) {
	c.pending = append(c.pending, m)
	if len(c.pending) < c.limit {
		return
	}
	correlate.Sort(c.pending)
	half := max(len(c.pending)/2, 1)
	for _, m := range c.pending[:half] {
		c.p.Process(m)
	}
	n := copy(c.pending, c.pending[half:])
	clear(c.pending[n:])
	c.pending = c.pending[:n]
}

// finish correlates the matches left and writes the correlation alerts
// in event-time order.
func (c *correlator) finish(write func(*alert.Alert)) correlate.Stats {
	correlate.Sort(c.pending)
	for _, m := range c.pending {
		c.p.Process(m)
	}
	c.pending = nil
	c.p.Flush()
	// Windows evaluated when they close emit later than eager ones.
	slices.SortStableFunc(c.out, func(a, b *alert.Alert) int {
		switch {
		case a.Timestamp == nil || b.Timestamp == nil:
			return 0
		}
		return a.Timestamp.Compare(*b.Timestamp)
	})
	for _, a := range c.out {
		write(a)
	}
	return c.p.Stats()
}

// contextRules marks, by rule index, the rules whose matches go to
// Options.Observe; nil when there are none.
func contextRules(eng *engine.Engine, opts Options) []bool {
	if opts.Context == nil || opts.Observe == nil {
		return nil
	}
	var out []bool
	for _, r := range eng.Rules() {
		if opts.Context(r) {
			if out == nil {
				out = make([]bool, len(eng.Rules()))
			}
			out[r.Index] = true
		}
	}
	return out
}
