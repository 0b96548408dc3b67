package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigil-detect/vigil/alert"
)

func newRulesCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Validate and list Sigma rules",
	}
	cmd.AddCommand(newRulesValidateCmd(env), newRulesListCmd(env))
	return cmd
}

func newRulesValidateCmd(env *Env) *cobra.Command {
	var o loadOptions
	var quiet bool
	cmd := &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check rule files and folders and report every problem",
		Long: `Parse and compile Sigma rules, correlations and filters, and print every
problem as FILE:LINE:COL: message. Exits 1 when any rule has an error.
Warnings (unmapped log sources, placeholders without values, Sigma v1
aggregations loaded as correlations) do not fail validation.`,
		Example: `  vigil rules validate rules/
  vigil rules validate --quiet ../sigma/rules/windows`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.paths = args
			rs, err := loadRules(o)
			if err != nil {
				return err
			}
			rs.printErrors(env.Stdout, !quiet)
			fmt.Fprintln(env.Stdout, rs.summary())
			if len(rs.errs) > 0 {
				return &exitError{ExitFailure, fmt.Errorf("%d problems in rules", len(rs.errs))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print errors only, not warnings")
	cmd.Flags().StringArrayVar(&o.mappings, "mapping", nil, "extra log-source and field mapping file (repeatable)")
	cmd.Flags().StringVar(&o.placeholders, "placeholders", "", "YAML file of placeholder values for the expand modifier")
	return cmd
}

func newRulesListCmd(env *Env) *cobra.Command {
	var o loadOptions
	cmd := &cobra.Command{
		Use:     "list PATH...",
		Short:   "List rules: id, level, title and log source",
		Example: `  vigil rules list rules/`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.paths = args
			rs, err := loadRules(o)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tLEVEL\tTITLE\tLOGSOURCE")
			// Rules come from repositories anyone can write: no control
			// character, and no tab to break the columns, reaches the
			// terminal.
			row := func(cells ...string) {
				for i, c := range cells {
					cells[i] = strings.ReplaceAll(alert.Printable(c), "\t", " ")
				}
				fmt.Fprintln(tw, strings.Join(cells, "\t"))
			}
			for _, r := range rs.eng.Rules() {
				s := r.Sigma
				var ls []string
				for _, x := range []string{s.LogSource.Product, s.LogSource.Category, s.LogSource.Service} {
					if x != "" {
						ls = append(ls, x)
					}
				}
				row(r.ID(), s.Level, s.Title, strings.Join(ls, "/"))
			}
			for _, c := range rs.coll.Correlations {
				row(c.ID, c.Level, c.Title, "correlation:"+c.Type)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			rs.printErrors(env.Stderr, false)
			fmt.Fprintln(env.Stderr, rs.summary())
			return nil
		},
	}
	return cmd
}
