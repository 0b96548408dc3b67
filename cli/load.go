package cli

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/sigma"
	"github.com/vigil-detect/vigil/web"
)

// ruleSet is a loaded and compiled set of rules with what went wrong.
type ruleSet struct {
	coll     *sigma.Collection
	eng      *engine.Engine
	norm     *mapping.Normalizer
	tbl      *mapping.Table
	corr     *correlate.Set
	errs     []error // parse and compile errors
	warnings []error
	failed   int
	// excluded counts the rules and correlations the selection left out;
	// hidden are the ids of rules loaded only for the correlations that
	// read them, whose own alerts are not written.
	excluded int
	hidden   map[string]bool
	// contextRules counts the rules added by loadOptions.context: they are
	// vigil's, not the user's, and not counted as loaded.
	contextRules int
}

type loadOptions struct {
	paths        []string
	mappings     []string
	placeholders string
	// builtin adds the built-in advisory rules (package advisory).
	builtin bool
	// sel, when set, selects rules by level, status, tags and id.
	sel *selection
	// context adds these context rules after the selection, so that it
	// cannot drop them (the process-tree rules of the HTML report).
	context *sigma.Collection
}

func loadRules(o loadOptions) (*ruleSet, error) {
	coll, perrs := sigma.LoadPaths(o.paths...)
	if o.builtin {
		bc, berrs := advisory.Rules()
		coll.Add(bc)
		perrs = append(perrs, berrs...)
	}
	rs := &ruleSet{coll: coll, failed: coll.Failed}
	rs.excluded, rs.hidden = o.sel.apply(coll)
	if o.context != nil {
		coll.Add(o.context)
		rs.contextRules = len(o.context.Rules)
	}
	for _, e := range perrs {
		rs.errs = append(rs.errs, e)
	}
	for _, w := range coll.Warnings {
		rs.warnings = append(rs.warnings, w)
	}
	tbl, err := mapping.Load(o.mappings...)
	if err != nil {
		return nil, &exitError{ExitUsage, err}
	}
	ph, err := readPlaceholders(o.placeholders)
	if err != nil {
		return nil, &exitError{ExitUsage, err}
	}
	eng, cerrs := engine.Compile(coll.Rules, engine.Options{Mapping: tbl, Placeholders: ph, Filters: coll.Filters, Fields: tbl.Fields().Names()})
	rs.eng = eng
	rs.tbl = tbl
	rs.norm, err = mapping.NewNormalizer(tbl.Fields(), tbl, eng.Schema())
	if err != nil {
		return nil, &exitError{ExitUsage, err}
	}
	rs.errs = append(rs.errs, cerrs...)
	rs.failed += len(cerrs)
	rs.warnings = append(rs.warnings, eng.Warnings()...)
	set, corrErrs := correlate.Compile(coll.Correlations, coll.Rules)
	rs.corr = set
	rs.errs = append(rs.errs, corrErrs...)
	rs.failed += len(corrErrs)
	return rs, nil
}

// readPlaceholders reads a YAML map of placeholder names to value lists.
func readPlaceholders(path string) (map[string][]string, error) {
	if path == "" {
		return nil, nil
	}
	data, err := sigma.ReadFileLimit(path, sigma.MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("placeholders: %s: %w", path, err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("placeholders %s: %w", path, err)
	}
	out := map[string][]string{}
	for k, v := range raw {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				out[k] = append(out[k], fmt.Sprint(x))
			}
		default:
			out[k] = []string{fmt.Sprint(v)}
		}
	}
	return out, nil
}

func (rs *ruleSet) summary() string {
	return fmt.Sprintf("%d rules loaded, %d failed, %d correlations, %d filters, %d warnings (from %d files)",
		rs.loaded(), rs.failed, rs.corr.Len(), len(rs.coll.Filters), len(rs.warnings), rs.coll.Files)
}

// loaded is the number of rules compiled, less vigil's own context rules.
func (rs *ruleSet) loaded() int { return len(rs.eng.Rules()) - rs.contextRules }

// ruleInfos describes the loaded rules and correlations by id, for the
// HTML report.
func (rs *ruleSet) ruleInfos() map[string]web.RuleInfo {
	m := map[string]web.RuleInfo{}
	add := func(meta *sigma.Meta) {
		id := meta.ID
		if id == "" {
			id = meta.Title
		}
		m[id] = web.RuleInfo{Description: meta.Description, Author: meta.Author, References: meta.References, FalsePositives: meta.FalsePositives}
	}
	for _, r := range rs.coll.Rules {
		add(&r.Meta)
	}
	for _, c := range rs.coll.Correlations {
		add(&c.Meta)
	}
	return m
}

func (rs *ruleSet) printErrors(w io.Writer, warnings bool) {
	for _, e := range rs.errs {
		fmt.Fprintf(w, "error: %s\n", alert.Printable(e.Error()))
	}
	if warnings {
		for _, e := range rs.warnings {
			fmt.Fprintf(w, "warning: %s\n", alert.Printable(e.Error()))
		}
	}
}

// addRuleFlags registers the flags that load and select rules, shared by
// hunt and serve so that both take the same rules the same way.
func addRuleFlags(fl *pflag.FlagSet, load *loadOptions, builtin *bool, sel *selection) {
	fl.StringArrayVarP(&load.paths, "rules", "r", nil, "rule file or folder (repeatable); replaces the built-in advisory rules")
	fl.BoolVar(builtin, "builtin", false, "also run the built-in advisory rules (the default without --rules)")
	fl.StringArrayVar(&load.mappings, "mapping", nil, "extra log-source and field mapping file (repeatable)")
	fl.StringVar(&load.placeholders, "placeholders", "", "YAML file of placeholder values for the expand modifier")
	fl.StringVar(&sel.minLevel, "min-level", "", "only rules at or above this level: informational, low, medium, high, critical")
	fl.StringArrayVar(&sel.status, "status", nil, "only rules of these statuses (comma-separated, repeatable); !STATUS excludes one, e.g. '!deprecated,!experimental'")
	fl.StringArrayVar(&sel.tags, "tags", nil, "only rules with one of these tags or their sub-tags, e.g. attack.t1059 (comma-separated, repeatable)")
	fl.StringArrayVar(&sel.excludeRules, "exclude-rule", nil, "leave out the rule with this id or name (comma-separated, repeatable)")
}
