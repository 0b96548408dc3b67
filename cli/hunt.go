package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // --timezone names on systems without a zone database

	"github.com/spf13/cobra"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/coverage"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/proctree"
	"github.com/vigil-detect/vigil/report"
)

type huntFlags struct {
	load        loadOptions
	sel         selection
	strictRules bool
	format      string
	output      string
	attackLayer string
	summaryJSON string
	failOn      string
	from        string
	to          string
	timezone    string
	workers     int
	quiet       bool
	noProgress  bool
	builtin     bool
	maxGroups   int
	cpuprof     string
}

func newHuntCmd(env *Env) *cobra.Command {
	var f huntFlags
	cmd := &cobra.Command{
		Use:   "hunt [flags] PATH...",
		Short: "Run Sigma rules over event logs and print alerts",
		Long: `Run Sigma rules over Windows event logs and print one alert per rule match,
then a run summary on standard error.

Inputs (PATH) are any mix of:
  - files: EVTX, or JSON events (JSON Lines, a JSON array, or one JSON
    document; nested objects are flattened to dotted names), gzipped or not,
    whatever their name;
  - folders, searched recursively: a file is read when its content is an
    event log (EVTX signature, gzip, or JSON starting with { or [) or its
    name ends in .evtx .json .jsonl .ndjson .gz; others are ignored;
  - glob patterns ("logs/*.evtx"), expanded by vigil when the shell did not;
  - "-" for standard input.
Unreadable files are reported and skipped; the run goes on.

Rules: without --rules, the built-in advisory rules run ("vigil advisory
list"); --rules takes rule files and folders (repeatable) and replaces
them; --builtin adds them back. --min-level, --status, --tags and
--exclude-rule select among the loaded rules. A rule that fails to load is
reported with its location and the others run; --strict-rules makes that
fatal. Correlation rules run over the matches of the rules they reference,
on event time (docs/correlation.md).

Outputs (--format): table (the default when standard output is a
terminal: aligned, coloured by level unless NO_COLOR is set, long fields
elided), jsonl (the default otherwise; the contract of docs/alerts.md),
json (one array), csv (a timeline for Timeline Explorer and spreadsheets),
html (a self-contained report to open in a browser, docs/report.md).
--output writes to a file; without --format its extension (.csv .json
.jsonl .txt .html .htm) picks the format. --attack-layer writes an
ATT&CK Navigator layer of the techniques that fired. Times are UTC;
--timezone shows table and CSV times in another zone.

Standard error gets a progress bar while reading when it is a terminal,
and the run summary at the end (--quiet drops both); --summary-json writes
the summary as JSON.

Exit codes: 0 the hunt ran to the end (alerts or not), 1 runtime failure
(no readable input, unwritable output, --strict-rules with a broken rule,
no rule left to run), 2 usage error, 3 with --fail-on LEVEL when an alert at or above LEVEL
fired.`,
		Example: `  # the built-in advisory over the bundled example
  vigil hunt testdata/example/events.jsonl

  # SigmaHQ Windows rules over a folder of EVTX, high and critical only, as a table
  vigil hunt -r ../sigma/rules/windows --min-level high --format table C:\Triage\Logs

  # a CSV timeline and an ATT&CK Navigator layer for the report
  vigil hunt -r rules/ -o timeline.csv --attack-layer layer.json logs/

  # a self-contained HTML report: charts, ATT&CK, alerts, process trees
  vigil hunt -r rules/ -o report.html logs/

  # stable and test rules only, no deprecated ones; fail a CI job on high alerts
  vigil hunt -r rules/ --status '!deprecated,!experimental' --fail-on high -q logs/*.evtx

  # a gzipped SIEM export on standard input, local time, JSON summary
  zcat export.jsonl.gz | vigil hunt -r rules/ --timezone Europe/Paris --summary-json run.json -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHunt(cmd, env, f, args)
		},
	}
	fl := cmd.Flags()
	addRuleFlags(fl, &f.load, &f.builtin, &f.sel)
	fl.BoolVar(&f.strictRules, "strict-rules", false, "exit 1 before hunting when any rule fails to load")
	fl.StringVarP(&f.format, "format", "f", "", "output format: table, jsonl, json, csv or html (default table on a terminal, else jsonl)")
	fl.StringVarP(&f.output, "output", "o", "", "write alerts to this file instead of standard output")
	fl.StringVar(&f.attackLayer, "attack-layer", "", "also write an ATT&CK Navigator layer (JSON) of the techniques that fired to this file")
	fl.StringVar(&f.summaryJSON, "summary-json", "", "also write the run summary as JSON to this file")
	fl.StringVar(&f.failOn, "fail-on", "", "exit 3 when an alert at or above this level fired")
	fl.StringVar(&f.from, "from", "", "only events at or after this time (RFC 3339 or YYYY-MM-DD)")
	fl.StringVar(&f.to, "to", "", "only events at or before this time (RFC 3339 or YYYY-MM-DD, the whole day)")
	fl.StringVar(&f.timezone, "timezone", "UTC", "time zone of table and CSV times and of --from/--to dates: UTC, Local, or a name like Europe/Paris")
	fl.IntVar(&f.workers, "workers", 0, "decoding and matching goroutines (default: number of CPUs)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress, run summary or warnings on standard error")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress bar, even on a terminal")
	fl.IntVar(&f.maxGroups, "max-groups", 0, "bounds correlation memory: most groups open, matches they hold and matches waiting; the least recently updated groups are evicted beyond it (default 1048576)")
	fl.StringVar(&f.cpuprof, "cpuprofile", "", "write a CPU profile of the run to this file")
	_ = fl.MarkHidden("cpuprofile")
	return cmd
}

func parseWhen(s string, end bool, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2024-01-02T15:04:05Z) or a date (2024-01-02)", s)
	}
	if end {
		t = t.Add(24*time.Hour - time.Nanosecond)
	}
	return t.UTC(), nil
}

// formatFor picks the output format: the flag, else the output file's
// extension, else table on a terminal and jsonl otherwise.
func formatFor(f huntFlags, stdoutTTY bool) (string, error) {
	switch f.format {
	case "table", "jsonl", "json", "csv", "html":
		return f.format, nil
	case "":
	default:
		return "", usageErr("unknown --format %q (want table, jsonl, json, csv or html)", f.format)
	}
	if f.output != "" {
		switch strings.ToLower(filepath.Ext(f.output)) {
		case ".csv":
			return "csv", nil
		case ".html", ".htm":
			return "html", nil
		case ".json":
			return "json", nil
		case ".txt":
			return "table", nil
		}
		return "jsonl", nil
	}
	if stdoutTTY {
		return "table", nil
	}
	return "jsonl", nil
}

func runHunt(cmd *cobra.Command, env *Env, f huntFlags, args []string) (retErr error) {
	// Flags first: every usage error before any work.
	loc := time.UTC
	if f.timezone != "" && f.timezone != "UTC" {
		l, err := time.LoadLocation(f.timezone)
		if err != nil {
			return usageErr("--timezone %q: %v", f.timezone, err)
		}
		loc = l
	}
	from, err := parseWhen(f.from, false, loc)
	if err != nil {
		return usageErr("--from: %v", err)
	}
	to, err := parseWhen(f.to, true, loc)
	if err != nil {
		return usageErr("--to: %v", err)
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return usageErr("--to %s is before --from %s", f.to, f.from)
	}
	failRank := -1
	if f.failOn != "" {
		if failRank, err = parseLevel("--fail-on", f.failOn); err != nil {
			return err
		}
	}
	if err := f.sel.prepare(); err != nil {
		return err
	}
	stdoutTTY, stdoutWidth := env.Terminal(env.Stdout)
	stderrTTY, stderrWidth := env.Terminal(env.Stderr)
	format, err := formatFor(f, stdoutTTY && f.output == "")
	if err != nil {
		return err
	}

	inputs := hunt.ExpandInputs(args)
	if len(inputs.Inputs) == 0 {
		for _, p := range inputs.Skipped {
			fmt.Fprintf(env.Stderr, "vigil: unreadable: %s\n", alert.Printable(p.Error()))
		}
		return &exitError{ExitFailure, fmt.Errorf("no input to read (%d arguments skipped)", len(inputs.Skipped))}
	}
	// An output that is one of the inputs would be truncated before it is
	// read: refuse it whatever path names it (links, ./, case).
	for _, o := range []struct{ flag, path string }{{"--output", f.output}, {"--attack-layer", f.attackLayer}, {"--summary-json", f.summaryJSON}} {
		if o.path == "" {
			continue
		}
		if in, ok := inputs.Holds(o.path); ok {
			return usageErr("%s %s is the input %s: writing it would destroy the log before it is read", o.flag, o.path, in)
		}
	}
	f.load.builtin = f.builtin || len(f.load.paths) == 0
	f.load.sel = &f.sel
	if format == "html" {
		// The report's process trees: every process start and connection
		// is recorded by these context rules.
		ctx, errs := proctree.Rules()
		if len(errs) > 0 {
			return &exitError{ExitFailure, fmt.Errorf("process tree rules: %w", errs)}
		}
		f.load.context = ctx
	}
	rs, err := loadRules(f.load)
	if err != nil {
		return err
	}
	if !f.quiet {
		rs.printErrors(env.Stderr, false)
	}
	if f.strictRules && len(rs.errs) > 0 {
		return &exitError{ExitFailure, fmt.Errorf("--strict-rules: %d rule errors (%s)", len(rs.errs), rs.summary())}
	}
	if rs.loaded() == 0 {
		return &exitError{ExitFailure, fmt.Errorf("no rule loaded (%s)", rs.summary())}
	}

	var out io.Writer = env.Stdout
	toTerminal := f.output == "" && stdoutTTY
	if f.output != "" {
		file, err := os.Create(f.output)
		if err != nil {
			return &exitError{ExitFailure, err}
		}
		defer file.Close()
		out = file
	}
	var bar *progressBar
	progress := &hunt.Progress{}
	tally := alert.NewTally()
	if stderrTTY && !f.quiet && !f.noProgress {
		bar = newProgressBar(env.Stderr, inputs.TotalSize(), progress, tally, stderrWidth)
		if toTerminal {
			out = clearingWriter{w: out, bar: bar}
		}
	}
	var bw *bufio.Writer
	if !toTerminal {
		bw = bufio.NewWriterSize(out, 256<<10)
		out = bw
	}
	var w alert.Writer
	var rw *report.Writer
	var index *proctree.Index
	switch format {
	case "html":
		index = proctree.NewIndex()
		rw = report.New(out, report.Options{Title: "vigil hunt " + strings.Join(args, " "), Inputs: inputs.Paths(),
			Index: index, Rules: rs.ruleInfos()})
		w = rw
	case "jsonl":
		w = alert.NewJSONLines(out)
	case "json":
		w = alert.NewJSONArray(out)
	case "csv":
		w = alert.NewCSV(out, loc)
	case "table":
		color := toTerminal && env.Getenv("NO_COLOR") == ""
		width := 0
		if toTerminal {
			width = stdoutWidth
		}
		w = alert.NewTable(out, alert.TableOptions{Color: color, Location: loc, Width: width})
	}
	writers := alert.Multi{tally, w}
	var layerFile *os.File
	if f.attackLayer != "" {
		if layerFile, err = os.Create(f.attackLayer); err != nil {
			return &exitError{ExitFailure, err}
		}
		defer layerFile.Close()
		writers = append(writers, alert.NewAttackLayer(layerFile, "vigil hunt "+strings.Join(args, " ")))
	}
	var all alert.Writer = writers
	if len(rs.hidden) > 0 {
		all = hideRules{Writer: writers, hidden: rs.hidden}
	}

	problems := newProblemLog()
	opts := hunt.Options{
		Workers: f.workers, From: from, To: to, Stdin: progress.CountReader(env.Stdin), Normalizer: rs.norm,
		Correlations: rs.corr, MaxGroups: f.maxGroups,
		Problem:  problems.add,
		Progress: progress,
		// The JSON Lines writer (and the tally and ATT&CK layer beside
		// it) read no alert's fields map: the matching goroutines encode
		// the fields instead of building it.
		FieldsJSON: format == "jsonl",
	}
	stopProfile, err := startCPUProfile(f.cpuprof)
	if err != nil {
		return &exitError{ExitFailure, err}
	}
	defer stopProfile()
	var en *advisory.Enricher
	if f.load.builtin {
		en = advisory.NewEnricher()
		opts.Enrich = en.Enrich
		opts.Identity = en.Identity()
	}
	if en != nil || index != nil {
		// Context rules (vigil-role: context) record what the advisory
		// ancestry and the report's process trees need, without alerting.
		opts.Context = func(r *engine.Rule) bool { return advisory.IsContextRule(r.Sigma) }
		opts.Observe = func(r *engine.Rule, e *event.Event) {
			if proctree.IsRule(r.Sigma) {
				if index != nil {
					index.Observe(r.Sigma, e)
				}
			} else if en != nil {
				en.Record(advisory.ProcessOf(e))
			}
		}
	}
	// Log sources per host, for the summary's line naming the hosts on
	// which every loaded rule was blind.
	tallies := coverage.NewTally()
	opts.Tally = tallies.Worker
	if bar != nil {
		bar.run()
	}
	st, runErr := hunt.Run(cmd.Context(), rs.eng, inputs.Paths(), all, opts)
	if bar != nil {
		bar.finish()
	}
	sum := buildSummary(rs, &f.sel, rs.excluded, inputs, st, problems, tally)
	sum.BlindHosts = blindHosts(rs, tallies.Hosts())
	if runErr != nil {
		sum.Error = runErr.Error()
	}
	if rw != nil {
		rw.SetSummary(sum) // the report shows it; it is written at Close
	}
	if err := all.Close(); err != nil && runErr == nil {
		runErr = err
		sum.Error = runErr.Error()
	}
	if bw != nil {
		if err := bw.Flush(); err != nil && runErr == nil {
			runErr = err
			sum.Error = runErr.Error()
		}
	}
	if !f.quiet {
		sum.print(env.Stderr, st.Elapsed)
	}
	if f.summaryJSON != "" {
		if err := writeSummaryJSON(f.summaryJSON, sum); err != nil && runErr == nil {
			runErr = err
		}
	}
	if runErr != nil {
		return &exitError{ExitFailure, runErr}
	}
	if failRank >= 0 {
		var n int64
		for l, c := range tally.ByLevel {
			if levelRank(l) >= failRank {
				n += c
			}
		}
		if n > 0 {
			return &exitError{ExitAlerts, fmt.Errorf("--fail-on %s: %d alerts at or above %s", f.failOn, n, levels[failRank])}
		}
	}
	return nil
}
