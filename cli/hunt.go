package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/source"
)

type huntFlags struct {
	load      loadOptions
	format    string
	output    string
	from      string
	to        string
	workers   int
	quiet     bool
	builtin   bool
	maxGroups int
	cpuprof   string
}

func newHuntCmd(env *Env) *cobra.Command {
	var f huntFlags
	cmd := &cobra.Command{
		Use:   "hunt [flags] FILE...",
		Short: "Run Sigma rules over event logs and print alerts",
		Long: `Run Sigma rules over event log files and print one alert per rule match.

Inputs are JSON Lines files of events (one JSON object per line; nested
objects are flattened to dotted names), gzipped or not; "-" reads standard
input. The event time is taken from @timestamp, TimeCreated or UtcTime.

--rules takes rule files and folders (searched recursively) and may be
repeated. Without --rules, the built-in advisory rules run (see "vigil
advisory list"); --builtin runs them alongside --rules. A rule that fails
to load is reported on standard error with its location; the others run.

Correlation rules in the rule paths run over the matches of the rules they
reference, on event time, whatever the order of files and lines; their
alerts follow the detection alerts (docs/correlation.md).`,
		Example: `  vigil hunt testdata/example/events.jsonl
  vigil hunt --rules testdata/example/rules testdata/example/events.jsonl
  vigil hunt --format jsonl --rules ../sigma/rules/windows logs/*.jsonl > alerts.jsonl
  zcat export.jsonl.gz | vigil hunt --rules rules/ -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHunt(cmd, env, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.load.paths, "rules", "r", nil, "rule file or folder (repeatable)")
	fl.StringArrayVar(&f.load.mappings, "mapping", nil, "extra log-source mapping file (repeatable)")
	fl.StringVar(&f.load.placeholders, "placeholders", "", "YAML file of placeholder values for the expand modifier")
	fl.StringVarP(&f.format, "format", "f", "jsonl", "output format: jsonl or json")
	fl.StringVarP(&f.output, "output", "o", "", "write alerts to this file instead of standard output")
	fl.StringVar(&f.from, "from", "", "only events at or after this time (RFC 3339 or YYYY-MM-DD)")
	fl.StringVar(&f.to, "to", "", "only events at or before this time (RFC 3339 or YYYY-MM-DD)")
	fl.IntVar(&f.workers, "workers", 0, "decoding and matching goroutines (default: number of CPUs)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no run summary or warnings on standard error")
	fl.BoolVar(&f.builtin, "builtin", false, "also run the built-in advisory rules (the default without --rules)")
	fl.IntVar(&f.maxGroups, "max-groups", 0, "most correlation groups held open; the oldest are evicted beyond it (default 1048576)")
	fl.StringVar(&f.cpuprof, "cpuprofile", "", "write a CPU profile of the run to this file")
	_ = fl.MarkHidden("cpuprofile")
	return cmd
}

func parseWhen(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2024-01-02T15:04:05Z) or a date (2024-01-02)", s)
	}
	if end {
		t = t.Add(24*time.Hour - time.Nanosecond)
	}
	return t, nil
}

func runHunt(cmd *cobra.Command, env *Env, f huntFlags, args []string) error {
	f.load.builtin = f.builtin || len(f.load.paths) == 0
	from, err := parseWhen(f.from, false)
	if err != nil {
		return usageErr("--from: %v", err)
	}
	to, err := parseWhen(f.to, true)
	if err != nil {
		return usageErr("--to: %v", err)
	}
	inputs := hunt.ExpandInputs(args)
	if !f.quiet {
		for _, p := range inputs.Skipped {
			fmt.Fprintf(env.Stderr, "skipped: %v\n", p)
		}
	}
	if len(inputs.Inputs) == 0 {
		return &exitError{ExitFailure, fmt.Errorf("no input to read (%d arguments skipped)", len(inputs.Skipped))}
	}
	rs, err := loadRules(f.load)
	if err != nil {
		return err
	}
	if !f.quiet {
		rs.printErrors(env.Stderr, false)
	}
	if len(rs.eng.Rules()) == 0 {
		return &exitError{ExitFailure, fmt.Errorf("no rule loaded (%s)", rs.summary())}
	}
	var out io.Writer = env.Stdout
	if f.output != "" {
		file, err := os.Create(f.output)
		if err != nil {
			return &exitError{ExitFailure, err}
		}
		defer file.Close()
		out = file
	}
	bw := bufio.NewWriterSize(out, 256<<10)
	var w alert.Writer
	switch f.format {
	case "jsonl":
		w = alert.NewJSONLines(bw)
	case "json":
		w = alert.NewJSONArray(bw)
	default:
		return usageErr("unknown --format %q (want jsonl or json)", f.format)
	}
	problems := map[string]int{}
	var firstProblems []string
	opts := hunt.Options{
		Workers: f.workers, From: from, To: to, Stdin: env.Stdin, Normalizer: rs.norm,
		Logger:       logger(env, f.quiet),
		Correlations: rs.corr, MaxGroups: f.maxGroups,
		Problem: func(p *source.Problem) {
			problems[p.Path]++
			if len(firstProblems) < 10 {
				firstProblems = append(firstProblems, p.Error())
			}
		},
	}
	if f.cpuprof != "" {
		pf, err := os.Create(f.cpuprof)
		if err != nil {
			return &exitError{ExitFailure, err}
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return &exitError{ExitFailure, err}
		}
		defer pprof.StopCPUProfile()
	}
	if f.load.builtin {
		en := advisory.NewEnricher()
		opts.Enrich = en.Enrich
		opts.Context = func(r *engine.Rule) bool { return advisory.IsContextRule(r.Sigma) }
		opts.Observe = func(_ *engine.Rule, e *event.Event) { en.Record(advisory.ProcessOf(e)) }
	}
	st, runErr := hunt.Run(cmd.Context(), rs.eng, inputs.Paths(), w, opts)
	if err := w.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if err := bw.Flush(); err != nil && runErr == nil {
		runErr = err
	}
	if !f.quiet {
		printSummary(env.Stderr, rs, st, problems, firstProblems)
	}
	if runErr != nil {
		return &exitError{ExitFailure, runErr}
	}
	return nil
}

func printSummary(w io.Writer, rs *ruleSet, st hunt.Stats, problems map[string]int, first []string) {
	for _, p := range first {
		fmt.Fprintf(w, "skipped: %s\n", p)
	}
	if st.Problems > int64(len(first)) {
		fmt.Fprintf(w, "skipped: ... %d more unreadable records\n", st.Problems-int64(len(first)))
	}
	rate := float64(st.Events) / st.Elapsed.Seconds()
	fmt.Fprintf(w, "vigil: %s\n", rs.summary())
	fmt.Fprintf(w, "vigil: %d files, %d events (%.0f events/s), %d unreadable, %d outside --from/--to, %d alerts in %s\n",
		st.Files, st.Events, rate, st.Problems, st.Skipped, st.Alerts, st.Elapsed.Round(time.Millisecond))
	if st.Alerts > 0 {
		var lv []string
		for _, l := range []string{"critical", "high", "medium", "low", "informational", ""} {
			if n := st.ByLevel[l]; n > 0 {
				name := l
				if name == "" {
					name = "none"
				}
				lv = append(lv, fmt.Sprintf("%s %d", name, n))
			}
		}
		fmt.Fprintf(w, "vigil: alerts by level: %v\n", lv)
		type kv struct {
			k string
			v int64
		}
		var top []kv
		for k, v := range st.ByRule {
			top = append(top, kv{k, v})
		}
		sort.Slice(top, func(i, j int) bool { return top[i].v > top[j].v || top[i].v == top[j].v && top[i].k < top[j].k })
		for i, t := range top {
			if i == 5 {
				break
			}
			fmt.Fprintf(w, "vigil: top rule %s: %d\n", t.k, t.v)
		}
	}
	if c := st.Correlation; c.Matches > 0 {
		fmt.Fprintf(w, "vigil: correlations: %d matches correlated, %d groups (%d open at most), %d expired, %d evicted by --max-groups, %d alerts",
			c.Matches, c.Groups, c.MaxOpen, c.Expired, c.Evicted, c.Emitted)
		if c.NoTime > 0 {
			fmt.Fprintf(w, ", %d matches without a timestamp ignored", c.NoTime)
		}
		fmt.Fprintln(w)
	}
	if !st.First.IsZero() {
		fmt.Fprintf(w, "vigil: events from %s to %s\n", st.First.Format(time.RFC3339), st.Last.Format(time.RFC3339))
	}
}
