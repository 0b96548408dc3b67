package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/sigma"
)

func newAdvisoryCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "advisory",
		Short: "Show the built-in advisories and the rules that detect them",
		Long: `vigil carries advisories: descriptions of a threat (attack chain, impact,
recommendations, how to triage an alert) with the Sigma rules that detect
it, built into the binary. "vigil hunt" runs their rules when no --rules is
given, or with --builtin; their alerts carry the advisory id.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "list",
		Short:   "List the built-in advisories",
		Example: `  vigil advisory list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSEVERITY\tTITLE\tRULES")
			for _, a := range advisory.All() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", a.ID, a.Severity, a.Title, len(a.Rules))
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use:     "show ID",
		Short:   "Print an advisory for an analyst",
		Example: `  vigil advisory show VIGIL-2026-0001`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := advisory.Get(args[0])
			if a == nil {
				var ids []string
				for _, x := range advisory.All() {
					ids = append(ids, x.ID)
				}
				return usageErr("no advisory %q (there are: %s)", args[0], strings.Join(ids, ", "))
			}
			return printAdvisory(env.Stdout, a)
		},
	})
	return cmd
}

func printAdvisory(w io.Writer, a *advisory.Advisory) error {
	coll, errs := advisory.Rules()
	if len(errs) > 0 {
		return &exitError{ExitFailure, errs}
	}
	fmt.Fprintf(w, "%s  %s\n", a.ID, a.Title)
	fmt.Fprintf(w, "Severity: %s\n\n", a.Severity)
	para(w, "", a.Description)
	list := func(title string, items []string, numbered bool) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s\n", title)
		for i, s := range items {
			if numbered {
				fmt.Fprintf(w, "  %d. %s\n", i+1, s)
			} else {
				fmt.Fprintf(w, "  - %s\n", s)
			}
		}
	}
	list("Attack chain:", a.AttackChain, true)
	fmt.Fprintf(w, "\nImpact:\n")
	para(w, "  ", a.Impact)
	list("Recommendations:", a.Recommendations, false)
	fmt.Fprintf(w, "\nRules:\n")
	for _, id := range a.Rules {
		title, detail := id, ""
		for _, c := range coll.Correlations {
			if c.ID == id {
				title = c.Title
				sep := ", " // only temporal_ordered reads its rules in order
				if c.Type == "temporal_ordered" {
					sep = " -> "
				}
				detail = fmt.Sprintf("correlation %s of %s by %s within %s", c.Type, strings.Join(c.Rules, sep), strings.Join(c.GroupBy, ", "), c.Timespan)
				if c.Name != "" && slices.ContainsFunc(coll.Correlations, func(o *sigma.Correlation) bool {
					return slices.Contains(o.Rules, c.Name) || slices.Contains(o.Rules, c.ID)
				}) {
					detail += ", alerts only through the correlations"
				} else {
					detail += fmt.Sprintf(", level %s; tags %s", c.Level, strings.Join(c.Tags, " "))
				}
			}
		}
		for _, r := range coll.Rules {
			if r.ID == id {
				title = r.Title
				detail = fmt.Sprintf("detection %s (%s), alerts only through the correlations", r.Name, logSource(r))
				if r.Custom["vigil-role"] == "context" {
					detail = "context: process starts recorded for the ancestry of alerts"
				}
			}
		}
		fmt.Fprintf(w, "  - %s  %s\n      %s\n", id, title, detail)
	}
	list("Triage an alert:", a.Triage, true)
	list("References:", a.References, false)
	return nil
}

func logSource(r *sigma.Rule) string {
	var ls []string
	for _, x := range []string{r.LogSource.Product, r.LogSource.Category, r.LogSource.Service} {
		if x != "" {
			ls = append(ls, x)
		}
	}
	return strings.Join(ls, "/")
}

func para(w io.Writer, indent, s string) {
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		fmt.Fprintf(w, "%s%s\n", indent, strings.TrimSpace(l))
	}
}
