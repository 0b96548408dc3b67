// Package correlate runs Sigma correlation rules (event_count, value_count,
// temporal, temporal_ordered, value_sum, value_avg, value_percentile and
// value_median) over the matches of detection rules.
//
// Compile turns parsed correlations (and Sigma v1 aggregations of detection
// rules) into an immutable Set. A Processor, fed the matches of the rules a
// Set references in event-time order, keeps the per-group state and emits
// correlation alerts. Windows are measured on event timestamps only, never
// on the wall clock. Matches must reach Process in non-decreasing time
// order (ties broken by input position); a hunt over files collects the
// matches and sorts them (Sort), a streaming reader puts them through a
// Reorderer with a bounded lateness. See docs/correlation.md.
package correlate

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vigil-detect/vigil/sigma"
)

// DefaultAggregationTimespan is the window given to a Sigma v1 aggregation
// whose rule has no timeframe.
const DefaultAggregationTimespan = 24 * time.Hour

// Correlation is a compiled correlation rule. It is immutable.
type Correlation struct {
	// Sigma is the parsed correlation; for a Sigma v1 aggregation it is
	// synthesized from the rule (and FromRule is that rule).
	Sigma    *sigma.Correlation
	FromRule *sigma.Rule
	// Index is the correlation's position in Set.Correlations.
	Index int
	// Inputs are the rules or correlations the correlation reads, in the
	// order of its rules list.
	Inputs []Input
	// Output is true when the correlation's alerts are written out: it is
	// referenced by no other correlation, or by one with generate: true.
	Output bool

	mode    mode
	span    time.Duration
	conds   []sigma.CountCondition
	pct     float64
	deps    []dep // correlations that read this one's alerts
	ordered bool
}

// Input is one rule a correlation reads.
type Input struct {
	Ref string // the reference as written
	// Exactly one of Rule and Corr is set.
	Rule *sigma.Rule
	Corr *Correlation
	// GroupFields are the event fields the group-by values are read from
	// for this input (group-by names with aliases resolved).
	GroupFields []string
	// ValueField is the field of value_* correlations, alias resolved.
	ValueField string
}

// ID returns the correlation's id, or its title when it has none.
func (c *Correlation) ID() string {
	if c.Sigma.ID != "" {
		return c.Sigma.ID
	}
	return c.Sigma.Title
}

// Timespan returns the correlation's window.
func (c *Correlation) Timespan() time.Duration { return c.span }

type mode uint8

const (
	// eager: evaluated after every event on the sliding window ending at
	// it; used when the condition can only become true by adding events.
	eager mode = iota
	// atClose: evaluated once per window [first, first+timespan], when
	// the window is complete.
	atClose
	temporal
)

type dep struct {
	corr *Correlation
	idx  []int // input positions
}

type target struct {
	corr *Correlation
	idx  []int
}

// Set is a compiled set of correlations. It is immutable and safe for
// concurrent use; each Processor keeps its own state.
type Set struct {
	corrs []*Correlation
	// byRule lists, for each detection rule a correlation reads, the
	// correlations and input positions it feeds.
	byRule map[*sigma.Rule][]target
	// generate is true for fed rules that some referencing correlation
	// marks generate: true.
	generate map[*sigma.Rule]bool
}

// Correlations returns the compiled correlations in dependency order:
// every correlation comes after those it reads.
func (s *Set) Correlations() []*Correlation {
	if s == nil {
		return nil
	}
	return s.corrs
}

// Len returns the number of correlations.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.corrs)
}

// Feeds reports whether matches of the detection rule are read by some
// correlation (and must be given to a Processor).
func (s *Set) Feeds(r *sigma.Rule) bool {
	if s == nil {
		return false
	}
	_, ok := s.byRule[r]
	return ok
}

// Suppressed reports whether the rule's own detection alerts must not be
// written: a correlation reads it and none of those reading it has
// generate: true. Rules with a Sigma v1 aggregation are always suppressed:
// their alert is the aggregation's.
func (s *Set) Suppressed(r *sigma.Rule) bool {
	if s == nil {
		return false
	}
	if _, ok := s.byRule[r]; !ok {
		return false
	}
	if r.Detection.Aggregation != nil {
		return true
	}
	return !s.generate[r]
}

// Compile compiles correlations against the detection rules they may
// reference (by id or name), and turns the Sigma v1 aggregations of rules
// into correlations. Correlations with errors are left out and their errors
// returned (each a *sigma.Error with a position); the others compile.
func Compile(corrs []*sigma.Correlation, rules []*sigma.Rule) (*Set, []error) {
	var errs []error
	refs := map[string][]entry{}
	add := func(key string, e entry) {
		if key == "" {
			return
		}
		for _, x := range refs[key] {
			if x == e {
				return
			}
		}
		refs[key] = append(refs[key], e)
	}
	// Sigma v1 aggregations become correlations that stand in for their
	// rule: a reference to the rule reads the aggregation's alerts.
	synth := map[*sigma.Correlation]*sigma.Rule{}
	var all []*sigma.Correlation
	for _, r := range rules {
		if r.Detection.Aggregation == nil {
			add(r.ID, entry{rule: r})
			add(r.Name, entry{rule: r})
			continue
		}
		c, err := fromAggregation(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		synth[c] = r
		all = append(all, c)
		add(r.ID, entry{corr: c})
		add(r.Name, entry{corr: c})
	}
	for _, c := range corrs {
		add(c.ID, entry{corr: c})
		add(c.Name, entry{corr: c})
		all = append(all, c)
	}

	// Resolve references.
	type node struct {
		sc     *sigma.Correlation
		inputs []entry
		bad    bool
	}
	nodes := map[*sigma.Correlation]*node{}
	for _, c := range all {
		n := &node{sc: c}
		nodes[c] = n
		if r := synth[c]; r != nil {
			n.inputs = []entry{{rule: r}}
			continue
		}
		if len(c.Rules) == 0 {
			errs = append(errs, docErr(c, c.Pos, "correlation %q refers to no rules", c.Title))
			n.bad = true
		}
		for i, ref := range c.Rules {
			pos := c.Pos
			if i < len(c.RulesPos) {
				pos = c.RulesPos[i]
			}
			es := refs[ref]
			switch {
			case len(es) == 0:
				errs = append(errs, docErr(c, pos, "correlation %q refers to %q, which is no loaded rule's id or name", c.Title, ref))
				n.bad = true
				continue
			case len(es) > 1:
				errs = append(errs, docErr(c, pos, "correlation %q refers to %q, which names %d rules; give a unique id or name", c.Title, ref, len(es)))
				n.bad = true
				continue
			case es[0].corr == c:
				errs = append(errs, docErr(c, pos, "correlation %q refers to itself", c.Title))
				n.bad = true
				continue
			}
			n.inputs = append(n.inputs, es[0])
		}
		if err := checkCorrelation(c); err != nil {
			errs = append(errs, err)
			n.bad = true
		}
	}

	// Order correlations so that each comes after those it reads; drop
	// cycles and correlations reading bad ones.
	set := &Set{byRule: map[*sigma.Rule][]target{}, generate: map[*sigma.Rule]bool{}}
	compiled := map[*sigma.Correlation]*Correlation{}
	state := map[*sigma.Correlation]int{} // 1 visiting, 2 done
	var visit func(c *sigma.Correlation) bool
	visit = func(c *sigma.Correlation) bool {
		switch state[c] {
		case 1:
			errs = append(errs, docErr(c, c.Pos, "correlation %q is part of a reference cycle", c.Title))
			return false
		case 2:
			return compiled[c] != nil
		}
		state[c] = 1
		n := nodes[c]
		ok := !n.bad
		for _, in := range n.inputs {
			if in.corr != nil && !visit(in.corr) {
				if ok {
					errs = append(errs, docErr(c, c.Pos, "correlation %q reads correlation %q, which did not compile", c.Title, in.corr.Title))
				}
				ok = false
			}
		}
		state[c] = 2
		if !ok {
			return false
		}
		cc, err := build(c, n.inputs, compiled, synth[c])
		if err != nil {
			errs = append(errs, err)
			return false
		}
		cc.Index = len(set.corrs)
		set.corrs = append(set.corrs, cc)
		compiled[c] = cc
		return true
	}
	for _, c := range all {
		visit(c)
	}

	// Wire inputs: rules feed correlations, correlations feed dependents.
	referenced := map[*Correlation]bool{}
	generated := map[*Correlation]bool{}
	for _, cc := range set.corrs {
		byRule := map[*sigma.Rule][]int{}
		byCorr := map[*Correlation][]int{}
		var rorder []*sigma.Rule
		var corder []*Correlation
		for i, in := range cc.Inputs {
			if in.Rule != nil {
				if byRule[in.Rule] == nil {
					rorder = append(rorder, in.Rule)
				}
				byRule[in.Rule] = append(byRule[in.Rule], i)
				if cc.Sigma.Generate {
					set.generate[in.Rule] = true
				}
			} else {
				if byCorr[in.Corr] == nil {
					corder = append(corder, in.Corr)
				}
				byCorr[in.Corr] = append(byCorr[in.Corr], i)
				referenced[in.Corr] = true
				if cc.Sigma.Generate {
					generated[in.Corr] = true
				}
			}
		}
		for _, r := range rorder {
			set.byRule[r] = append(set.byRule[r], target{cc, byRule[r]})
		}
		for _, d := range corder {
			d.deps = append(d.deps, dep{cc, byCorr[d]})
		}
	}
	for _, cc := range set.corrs {
		cc.Output = !referenced[cc] || generated[cc]
	}
	return set, errs
}

func docErr(c *sigma.Correlation, pos sigma.Pos, format string, args ...any) error {
	e := sigma.Errorf(pos, format, args...)
	e.Doc = c.Title
	return e
}

// fromAggregation turns a rule's Sigma v1 aggregation into a correlation.
func fromAggregation(r *sigma.Rule) (*sigma.Correlation, error) {
	a := r.Detection.Aggregation
	c := &sigma.Correlation{Meta: r.Meta, GroupBy: a.GroupBy, Condition: []sigma.CountCondition{a.Cond}, TypePos: a.Pos}
	c.Rules = []string{r.ID}
	c.RulesPos = []sigma.Pos{a.Pos}
	switch a.Func {
	case "count":
		c.Type = "event_count"
		if a.Field != "" {
			c.Type, c.Field = "value_count", a.Field
		}
	case "sum":
		c.Type, c.Field = "value_sum", a.Field
	case "avg":
		c.Type, c.Field = "value_avg", a.Field
	default:
		return nil, &sigma.Error{Pos: a.Pos, Doc: r.Title, Msg: fmt.Sprintf("Sigma v1 aggregation %s() has no correlation equivalent", a.Func)}
	}
	c.Timespan = DefaultAggregationTimespan
	if tf := strings.TrimSpace(r.Detection.Timeframe); tf != "" {
		d, err := sigma.ParseTimespan(tf)
		if err != nil {
			return nil, &sigma.Error{Pos: r.Detection.Pos, Doc: r.Title, Msg: "timeframe: " + err.Error()}
		}
		c.Timespan = d
	}
	return c, nil
}

func checkCorrelation(c *sigma.Correlation) error {
	pos := c.TypePos
	if pos.Line == 0 {
		pos = c.Pos
	}
	switch c.Type {
	case "event_count", "value_count", "value_sum", "value_avg", "value_percentile", "value_median":
		if len(c.Condition) == 0 {
			return docErr(c, pos, "%s correlation %q has no condition", c.Type, c.Title)
		}
		if c.Type != "event_count" && c.Field == "" {
			return docErr(c, pos, "%s correlation %q needs a field (condition.field)", c.Type, c.Title)
		}
	case "temporal", "temporal_ordered":
		if c.Type == "temporal_ordered" && len(c.Condition) > 0 {
			return docErr(c, c.Condition[0].Pos, "temporal_ordered correlation %q takes no condition: every rule must match in order", c.Title)
		}
	default:
		return docErr(c, pos, "unknown correlation type %q", c.Type)
	}
	if c.Timespan <= 0 {
		return docErr(c, c.Pos, "correlation %q has no timespan", c.Title)
	}
	for _, cond := range c.Condition {
		switch cond.Op {
		case "gt", "gte", "lt", "lte", "eq", "neq":
		default:
			return docErr(c, cond.Pos, "unknown condition operator %q", cond.Op)
		}
	}
	return nil
}

// entry is a rule reference resolved to a rule or a correlation.
type entry struct {
	rule *sigma.Rule
	corr *sigma.Correlation
}

// build compiles one correlation whose inputs are resolved and compiled.
func build(c *sigma.Correlation, inputs []entry, compiled map[*sigma.Correlation]*Correlation, from *sigma.Rule) (*Correlation, error) {
	cc := &Correlation{Sigma: c, FromRule: from, span: c.Timespan, conds: c.Condition, pct: c.Percentile}
	// Aliases: alias name -> (reference -> field). A reference may be the
	// id or the name of the input.
	usedAlias := map[string]bool{}
	for i, in := range inputs {
		x := Input{Ref: c.Rules[min(i, len(c.Rules)-1)]}
		var keys []string
		if in.rule != nil {
			x.Rule = in.rule
			keys = []string{in.rule.ID, in.rule.Name, in.rule.Title}
		} else {
			x.Corr = compiled[in.corr]
			keys = []string{in.corr.ID, in.corr.Name, in.corr.Title}
		}
		keys = append([]string{x.Ref}, keys...)
		resolve := func(f string) string {
			m, ok := c.Aliases[f]
			if !ok {
				return f
			}
			usedAlias[f] = true
			for _, k := range keys {
				if k == "" {
					continue
				}
				if v, ok := m[k]; ok && v != "" {
					return v
				}
			}
			return f
		}
		for _, g := range c.GroupBy {
			x.GroupFields = append(x.GroupFields, resolve(g))
		}
		if c.Field != "" {
			x.ValueField = resolve(c.Field)
		}
		cc.Inputs = append(cc.Inputs, x)
	}
	for name, m := range c.Aliases {
		if !usedAlias[name] && !contains(c.GroupBy, name) && name != c.Field {
			return nil, docErr(c, c.Pos, "correlation %q defines alias %q, which neither group-by nor field uses", c.Title, name)
		}
		for ref := range m {
			if !contains(c.Rules, ref) && !inputKnows(inputs, ref) {
				return nil, docErr(c, c.Pos, "alias %q of correlation %q names %q, which is not one of its rules", name, c.Title, ref)
			}
		}
	}
	switch c.Type {
	case "temporal", "temporal_ordered":
		cc.mode = temporal
		cc.ordered = c.Type == "temporal_ordered"
	case "event_count", "value_count", "value_sum":
		cc.mode = eager
		for _, k := range c.Condition {
			if k.Op != "gt" && k.Op != "gte" {
				cc.mode = atClose
			}
		}
	default: // value_avg, value_percentile, value_median
		cc.mode = atClose
	}
	if c.Type == "value_median" {
		cc.pct = 50
	}
	return cc, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func inputKnows(inputs []entry, ref string) bool {
	for _, in := range inputs {
		if in.rule != nil && (in.rule.ID == ref || in.rule.Name == ref || in.rule.Title == ref) {
			return true
		}
		if in.corr != nil && (in.corr.ID == ref || in.corr.Name == ref || in.corr.Title == ref) {
			return true
		}
	}
	return false
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
