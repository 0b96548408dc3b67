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

// correlateMatches runs the correlation stage over the matches collected
// from every input: sorted by event time (input position breaking ties),
// so that the result does not depend on the order of files or lines. It
// writes the correlation alerts in event-time order.
func correlateMatches(ms []correlate.Match, opts Options, write func(*alert.Alert)) correlate.Stats {
	correlate.Sort(ms)
	var out []*alert.Alert
	p := correlate.NewProcessor(opts.Correlations, correlate.Options{
		MaxGroups: opts.MaxGroups,
		Enrich:    opts.Enrich,
		Identity:  opts.Identity,
		Emit:      func(a *alert.Alert) { out = append(out, a) },
	})
	for _, m := range ms {
		p.Process(m)
	}
	p.Flush()
	// Windows evaluated when they close emit later than eager ones.
	slices.SortStableFunc(out, func(a, b *alert.Alert) int {
		switch {
		case a.Timestamp == nil || b.Timestamp == nil:
			return 0
		}
		return a.Timestamp.Compare(*b.Timestamp)
	})
	for _, a := range out {
		write(a)
	}
	return p.Stats()
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
