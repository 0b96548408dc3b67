package coverage

import (
	"context"
	"fmt"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/mapping"
)

// Scan reads inputs (files or "-", as hunt.ExpandInputs gives them) with
// vigil hunt's readers and field mapping (tbl; nil
// for mapping.Default()) and tallies every event; no rule runs. opts may
// set Workers, From, To, Stdin, Problem and Progress; the rest is Scan's.
func Scan(ctx context.Context, inputs []string, tbl *mapping.Table, opts hunt.Options) ([]*Host, hunt.Stats, error) {
	if tbl == nil {
		tbl = mapping.Default()
	}
	names := append(tbl.Fields().Names(), "Channel", "EventID", "winlog.channel", "event.category",
		"CommandLine", "process.command_line", "ParentImage", "ParentProcessName", "process.parent.executable",
		"ParentCommandLine", "process.parent.command_line")
	eng, errs := engine.Compile(nil, engine.Options{Mapping: tbl, Fields: names})
	if len(errs) > 0 {
		return nil, hunt.Stats{}, fmt.Errorf("coverage: %v", errs[0])
	}
	norm, err := mapping.NewNormalizer(tbl.Fields(), tbl, eng.Schema())
	if err != nil {
		return nil, hunt.Stats{}, err
	}
	t := NewTally()
	opts.Normalizer = norm
	opts.Tally = t.Worker
	opts.Correlations, opts.Enrich, opts.Identity, opts.Context, opts.Observe = nil, nil, nil, nil, nil
	st, err := hunt.Run(ctx, eng, inputs, discard{}, opts)
	return t.Hosts(), st, err
}

type discard struct{}

func (discard) Write(*alert.Alert) error { return nil }
func (discard) Close() error             { return nil }
