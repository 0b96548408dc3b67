package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/convert"
	_ "github.com/vigil-detect/vigil/convert/eql"
	_ "github.com/vigil-detect/vigil/convert/esql"
	_ "github.com/vigil-detect/vigil/convert/kql"
	_ "github.com/vigil-detect/vigil/convert/lucene"
	_ "github.com/vigil-detect/vigil/convert/splunk"
	"github.com/vigil-detect/vigil/sigma"
)

func newConvertCmd(env *Env) *cobra.Command {
	var (
		target, format, output string
		pipelines              []string
		builtin                bool
	)
	cmd := &cobra.Command{
		Use:   "convert --target TARGET [--pipeline NAME|FILE]... [--format FORMAT] [--builtin] RULES...",
		Short: "Convert Sigma rules to SIEM queries (Splunk, Elastic, Microsoft KQL)",
		Long: `convert writes each rule (files or folders of rules; --builtin for the
advisory's rules) as a query for a SIEM, one query per rule separated by a
blank line. Correlation rules become the target's aggregation or sequence
query. Without --pipeline, field names stay as the rule writes them,
except for target kql, which then applies microsoft_xdr (Defender XDR
advanced hunting tables), as pySigma's KQL back end does: a KQL query
needs a table. Give --pipeline sentinel_asim, azure_monitor or your own
(set_state query_table) for Microsoft Sentinel.

Targets: ` + strings.Join(convert.Targets(), ", ") + `
Pipelines: ` + strings.Join(convert.PipelineNames(), ", ") + ` (or a pySigma pipeline YAML file)

A rule the target cannot express with the same meaning is refused with a
message naming the construct, and convert exits 1 after converting the
others. See docs/convert.md.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if target == "" {
				return usageErr("convert: --target is required (%s)", strings.Join(convert.Targets(), ", "))
			}
			b, ok := convert.Lookup(target)
			if !ok {
				return usageErr("convert: unknown target %q (targets: %s)", target, strings.Join(convert.Targets(), ", "))
			}
			f, err := convert.CheckFormat(b, format)
			if err != nil {
				return usageErr("convert: %v", err)
			}
			if len(args) == 0 && !builtin {
				return usageErr("convert: give rule files or folders, or --builtin")
			}
			var pipes []*convert.Pipeline
			for _, name := range pipelines {
				p, err := convert.LoadPipeline(name)
				if err != nil {
					return usageErr("convert: %v", err)
				}
				pipes = append(pipes, p)
			}
			if len(pipes) == 0 {
				// As pySigma's KQL back end: kql applies microsoft_xdr
				// when no pipeline is given (a KQL query needs a table).
				if pipes, err = convert.DefaultPipelines(b); err != nil {
					return &exitError{ExitFailure, err}
				}
			}
			coll := &sigma.Collection{}
			var perrs sigma.ErrorList
			if len(args) > 0 {
				coll, perrs = sigma.LoadPaths(args...)
			}
			if builtin {
				bc, berrs := advisory.Rules()
				coll.Add(bc)
				perrs = append(perrs, berrs...)
			}
			qs, errs := convert.Convert(coll, b, pipes, f)
			var out string
			if fin, ok := b.(convert.Finisher); ok {
				if s, ok := fin.Finish(qs, f); ok {
					out = s + "\n"
				}
			}
			if out == "" {
				texts := make([]string, len(qs))
				for i, q := range qs {
					texts[i] = q.Text
				}
				if len(texts) > 0 {
					out = strings.Join(texts, "\n\n") + "\n"
				}
			}
			w := env.Stdout
			if output != "" && output != "-" {
				if err := os.WriteFile(output, []byte(out), 0o644); err != nil {
					return &exitError{ExitFailure, err}
				}
			} else {
				fmt.Fprint(w, out)
			}
			for _, e := range perrs {
				fmt.Fprintf(env.Stderr, "error: %v\n", e)
			}
			for _, w := range coll.Warnings {
				fmt.Fprintf(env.Stderr, "warning: %v\n", w)
			}
			for _, q := range qs {
				for _, w := range q.Warnings {
					fmt.Fprintf(env.Stderr, "warning: %v (in %q)\n", w, q.Title)
				}
			}
			for _, e := range errs {
				fmt.Fprintf(env.Stderr, "error: cannot convert: %v\n", e)
			}
			if n := len(perrs) + len(errs); n > 0 {
				return &exitError{ExitFailure, fmt.Errorf("convert: %d of %d documents not converted", n, n+len(qs))}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&target, "target", "t", "", "query language: "+strings.Join(convert.Targets(), ", "))
	fl.StringArrayVarP(&pipelines, "pipeline", "p", nil, "processing pipeline, by name or YAML file (repeatable; kql defaults to microsoft_xdr)")
	fl.StringVarP(&format, "format", "f", "", "output format of the target (default: default)")
	fl.StringVarP(&output, "output", "o", "", "write the queries to this file instead of standard output")
	fl.BoolVar(&builtin, "builtin", false, "convert the built-in advisory rules too")
	return cmd
}
