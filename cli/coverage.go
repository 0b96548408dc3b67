package cli

import (
	"bufio"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/coverage"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/mapping"
)

func newCoverageCmd(env *Env) *cobra.Command {
	var (
		rules    []string
		mappings []string
		format   string
		workers  int
	)
	cmd := &cobra.Command{
		Use:   "coverage [flags] PATH...",
		Short: "Report, per host, which telemetry the logs hold and which rules can fire on it",
		Long: `coverage reads event logs (the inputs of "vigil hunt": EVTX and JSON files,
folders, globs, "-") and reports, per host: its process-creation sources
(Sysmon 1, Security 4688, ECS process starts) and whether they carry
command lines and parent information; its network-connection sources
(Sysmon 3, Security 5156, ECS network events); the time span covered; and
whether the built-in advisory, and every rule given with --rules, can fire
on those logs: covered, partial (some selections read a field the logs
never carry) or blind, each gap with its remedy (the audit policy, the
Sysmon configuration element, the Winlogbeat channel to add).

A Security 4688 without CommandLine means the "Include command line in
process creation events" policy is off: the advisory is blind there.

Output: a table on a terminal, JSON otherwise (--format table|json): an
object with a "hosts" list whose items carry host, events, first_event,
last_event, process_creation, network, advisory, missing and, with
--rules, rules.`,
		Example: `  # which hosts of a triage collection can the advisory see?
  vigil coverage C:\Triage\Logs

  # and SigmaHQ's Windows rules, as JSON
  vigil coverage -r ../sigma/rules/windows --format json logs/ > coverage.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "", "table", "json":
			default:
				return usageErr("unknown --format %q (want table or json)", format)
			}
			tbl, err := mapping.Load(mappings...)
			if err != nil {
				return &exitError{ExitUsage, err}
			}
			var user *coverage.RuleSet
			if len(rules) > 0 {
				rs, err := loadRules(loadOptions{paths: rules, mappings: mappings})
				if err != nil {
					return err
				}
				rs.printErrors(env.Stderr, false)
				user = coverage.NewRuleSet(tbl, rs.coll, rs.corr, advisory.IsContextRule)
			}
			bc, berrs := advisory.Rules()
			if len(berrs) > 0 {
				return &exitError{ExitFailure, berrs[0]}
			}
			bset, cerrs := correlate.Compile(bc.Correlations, bc.Rules)
			if len(cerrs) > 0 {
				return &exitError{ExitFailure, cerrs[0]}
			}
			adv := coverage.NewRuleSet(tbl, bc, bset, advisory.IsContextRule)

			inputs := hunt.ExpandInputs(args)
			for _, p := range inputs.Skipped {
				fmt.Fprintf(env.Stderr, "vigil: unreadable: %v\n", p)
			}
			if len(inputs.Inputs) == 0 {
				return &exitError{ExitFailure, fmt.Errorf("no input to read (%d arguments skipped)", len(inputs.Skipped))}
			}
			problems := newProblemLog()
			hosts, st, err := coverage.Scan(cmd.Context(), inputs.Paths(), tbl, hunt.Options{Workers: workers, Stdin: env.Stdin, Problem: problems.add})
			for _, f := range problems.files {
				fmt.Fprintf(env.Stderr, "vigil: unreadable: %s: %s\n", f.Path, f.Error)
			}
			if problems.records > 0 {
				fmt.Fprintf(env.Stderr, "vigil: %d unparsable records (vigil hunt's summary lists the reasons)\n", problems.records)
			}
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			rep := coverage.Build(hosts, adv, user)
			if format == "" {
				format = "json"
				if tty, _ := env.Terminal(env.Stdout); tty {
					format = "table"
				}
			}
			bw := bufio.NewWriter(env.Stdout)
			if format == "table" {
				err = rep.WriteTable(bw)
			} else {
				err = rep.WriteJSON(bw)
			}
			if ferr := bw.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			fmt.Fprintf(env.Stderr, "vigil: coverage: %d hosts, %d events in %d files\n", len(rep.Hosts), st.Events, st.Files-len(problems.files))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&rules, "rules", "r", nil, "also judge these rule files or folders (repeatable)")
	fl.StringArrayVar(&mappings, "mapping", nil, "extra log-source and field mapping file (repeatable)")
	fl.StringVarP(&format, "format", "f", "", "output format: table or json (default table on a terminal, else json)")
	fl.IntVar(&workers, "workers", 0, "decoding goroutines (default: number of CPUs)")
	return cmd
}
