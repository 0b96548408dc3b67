package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/sigma"
	"github.com/vigil-detect/vigil/sigma/condition"
)

// Options configure compilation.
type Options struct {
	// Mapping resolves log sources; nil means mapping.Default().
	Mapping *mapping.Table
	// Placeholders gives the values of expand placeholders, by name
	// without the percent signs. A placeholder without values matches
	// nothing, with a warning.
	Placeholders map[string][]string
	// Filters are applied to the rules they name.
	Filters []*sigma.Filter
	// Fields are field names that get a schema slot besides those rules
	// use (for example, those a mapping.Normalizer reads and writes).
	Fields []string
}

// Rule is a compiled detection rule.
type Rule struct {
	// Sigma is the parsed rule; Compile does not modify it.
	Sigma *sigma.Rule
	// Index is the rule's position in Engine.Rules.
	Index int
	// Filters lists the titles of the filters applied to the rule.
	Filters []string
	// Unrouted is true when the rule's log source is not in the mapping:
	// such a rule is compiled but never tested.
	Unrouted bool

	match   matcher
	sources []mapping.Source
	anySrc  bool // applies to every event
	foreign bool // product other than windows with no mapping: applies to events without a channel
}

// ID returns the rule's id, or its title when it has none.
func (r *Rule) ID() string {
	if r.Sigma.ID != "" {
		return r.Sigma.ID
	}
	return r.Sigma.Title
}

// Match reports whether the rule's detection matches the event, ignoring
// its log source.
func (r *Rule) Match(e *event.Event) bool { return r.match(e) }

// Engine is a compiled rule set. It is immutable and safe for concurrent
// use.
type Engine struct {
	rules  []*Rule
	schema *event.Schema
	router router
	// Warnings are problems that did not stop rules from compiling.
	warnings []error
	pf       *prefilter
	scratch  sync.Pool // of *scratch, for Match
}

// Rules returns the compiled rules.
func (e *Engine) Rules() []*Rule { return e.rules }

// Schema returns the field schema events must be decoded with.
func (e *Engine) Schema() *event.Schema { return e.schema }

// Warnings returns the compile warnings.
func (e *Engine) Warnings() []error { return e.warnings }

type compiler struct {
	opts     Options
	schema   *event.Schema
	warnings []error
	// valueLits holds, per rule value, the literal each of its patterns
	// needs (see prefilter.go); a nil entry means the value has none.
	valueLits map[*sigma.Value][]string
}

func (c *compiler) slot(name string) int { return c.schema.Intern(name) }

// Compile compiles rules into an engine. Rules that fail to compile are
// left out and their errors returned (each an *sigma.Error with a
// position); the others are compiled.
func Compile(rules []*sigma.Rule, opts Options) (*Engine, []error) {
	if opts.Mapping == nil {
		opts.Mapping = mapping.Default()
	}
	c := &compiler{opts: opts, schema: event.NewSchema(opts.Fields)}
	chSlot := c.slot("Channel")
	eidSlot := c.slot("EventID")
	filters := indexFilters(opts.Filters)
	var errs []error
	eng := &Engine{}
	var reqs []requirement
	for _, sr := range rules {
		r, err := c.compileRule(sr, filters)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.Index = len(eng.rules)
		eng.rules = append(eng.rules, r)
		reqs = append(reqs, c.ruleRequirement(&sr.Detection))
	}
	eng.schema = c.schema
	eng.warnings = c.warnings
	eng.pf = buildPrefilter(eng.rules, reqs)
	eng.router = buildRouter(eng.rules, chSlot, eidSlot, eng.pf)
	eng.pf.finish()
	eng.scratch.New = func() any { return newScratch(len(eng.rules), eng.pf.nlits) }
	return eng, errs
}

func indexFilters(fs []*sigma.Filter) map[string][]*sigma.Filter {
	m := map[string][]*sigma.Filter{}
	for _, f := range fs {
		for _, r := range f.Rules {
			m[r] = append(m[r], f)
		}
	}
	return m
}

func (c *compiler) compileRule(sr *sigma.Rule, filters map[string][]*sigma.Filter) (r *Rule, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = sigma.Errorf(sr.Pos, "internal error compiling rule %q: %v", sr.Title, p)
		}
	}()
	m, err := c.compileDetection(&sr.Detection)
	if err != nil {
		return nil, err
	}
	r = &Rule{Sigma: sr}
	seen := map[*sigma.Filter]bool{}
	for _, key := range []string{sr.ID, sr.Name} {
		if key == "" {
			continue
		}
		for _, f := range filters[key] {
			if seen[f] {
				continue
			}
			seen[f] = true
			fm, err := c.compileDetection(&f.Detection)
			if err != nil {
				return nil, fmt.Errorf("filter %q: %w", f.Title, err)
			}
			rm := m
			m = func(e *event.Event) bool { return rm(e) && fm(e) }
			r.Filters = append(r.Filters, f.Title)
		}
	}
	r.match = m
	ls := sr.LogSource
	srcs, ok := c.opts.Mapping.Resolve(ls.Category, ls.Product, ls.Service)
	switch {
	case ok && srcs == nil:
		r.anySrc = true
	case ok:
		r.sources = srcs
		for i, src := range srcs {
			if len(src.EventIDs) > 0 {
				continue
			}
			// A channel-wide source: route the rule to the event ids
			// its detection requires, if it requires some.
			ids := c.detectionEventIDs(&sr.Detection, c.slot("EventID"))
			if ids == nil {
				break
			}
			r.sources = slices.Clone(srcs)
			for j := i; j < len(r.sources); j++ {
				if len(r.sources[j].EventIDs) == 0 {
					r.sources[j].EventIDs = ids
				}
			}
			break
		}
	case !strings.EqualFold(ls.Product, "windows"):
		// Another product's log source (or none named, like proxy or
		// webserver rules): such events carry no Windows channel.
		r.foreign = true
	default:
		r.Unrouted = true
		c.warnings = append(c.warnings, sigma.Errorf(ls.Pos, "log source %s is not in the mapping; the rule is not run (add it with --mapping)", describeLogSource(ls)))
	}
	return r, nil
}

func describeLogSource(ls sigma.LogSource) string {
	var parts []string
	for _, kv := range [][2]string{{"category", ls.Category}, {"product", ls.Product}, {"service", ls.Service}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+kv[1])
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// compileDetection compiles the searches and conditions of a detection.
func (c *compiler) compileDetection(d *sigma.Detection) (matcher, error) {
	searches := map[string]matcher{}
	var names []string
	for _, s := range d.Searches {
		m, err := c.compileSearch(s)
		if err != nil {
			return nil, err
		}
		searches[s.Name] = m
		names = append(names, s.Name)
	}
	var conds []matcher
	for _, cond := range d.Conditions {
		m, err := c.compileCondition(cond, cond.Expr, searches, names, 0)
		if err != nil {
			return nil, err
		}
		conds = append(conds, m)
	}
	if len(conds) == 0 {
		return nil, sigma.Errorf(d.Pos, "detection has no condition")
	}
	return anyOf(conds), nil
}

func (c *compiler) compileSearch(s *sigma.Search) (matcher, error) {
	var alts []matcher
	for _, sel := range s.Alternatives {
		var items []matcher
		for _, it := range sel.Items {
			m, err := c.compileItem(it)
			if err != nil {
				return nil, err
			}
			items = append(items, m)
		}
		alts = append(alts, allOf(items))
	}
	if len(alts) == 0 {
		return nil, sigma.Errorf(s.Pos, "search identifier %q is empty", s.Name)
	}
	return anyOf(alts), nil
}

func (c *compiler) compileCondition(cond *sigma.Condition, n condition.Node, searches map[string]matcher, names []string, depth int) (matcher, error) {
	if depth > condition.MaxDepth {
		return nil, sigma.Errorf(cond.Pos, "condition nested too deeply")
	}
	args := func(nodes []condition.Node) ([]matcher, error) {
		ms := make([]matcher, 0, len(nodes))
		for _, a := range nodes {
			m, err := c.compileCondition(cond, a, searches, names, depth+1)
			if err != nil {
				return nil, err
			}
			ms = append(ms, m)
		}
		return ms, nil
	}
	switch n := n.(type) {
	case *condition.And:
		ms, err := args(n.Args)
		if err != nil {
			return nil, err
		}
		return allOf(ms), nil
	case *condition.Or:
		ms, err := args(n.Args)
		if err != nil {
			return nil, err
		}
		return anyOf(ms), nil
	case *condition.Not:
		m, err := c.compileCondition(cond, n.Arg, searches, names, depth+1)
		if err != nil {
			return nil, err
		}
		return func(e *event.Event) bool { return !m(e) }, nil
	case *condition.Ident:
		m, ok := searches[n.Name]
		if !ok {
			return nil, sigma.Errorf(cond.Pos, "condition refers to undefined search identifier %q", n.Name)
		}
		return m, nil
	case *condition.Of:
		var ms []matcher
		for _, name := range names {
			if !n.Selects(name) {
				continue
			}
			ms = append(ms, searches[name])
		}
		if len(ms) == 0 {
			return nil, sigma.Errorf(cond.Pos, "%s matches no search identifier", n)
		}
		if n.All {
			return allOf(ms), nil
		}
		return anyOf(ms), nil
	}
	return nil, sigma.Errorf(cond.Pos, "unknown condition node %T", n)
}

func allOf(ms []matcher) matcher {
	switch len(ms) {
	case 1:
		return ms[0]
	case 2:
		a, b := ms[0], ms[1]
		return func(e *event.Event) bool { return a(e) && b(e) }
	}
	return func(e *event.Event) bool {
		for _, m := range ms {
			if !m(e) {
				return false
			}
		}
		return true
	}
}

func anyOf(ms []matcher) matcher {
	switch len(ms) {
	case 1:
		return ms[0]
	case 2:
		a, b := ms[0], ms[1]
		return func(e *event.Event) bool { return a(e) || b(e) }
	}
	return func(e *event.Event) bool {
		for _, m := range ms {
			if m(e) {
				return true
			}
		}
		return false
	}
}

// expand resolves the placeholders of a value.
func (c *compiler) expand(v *sigma.Value) ([]string, error) {
	results := []string{""}
	s := v.Text
	var missing []string
	for len(s) > 0 {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			results = appendAll(results, s)
			break
		}
		if i > 0 && s[i-1] == '\\' {
			results = appendAll(results, s[:i-1]+"%")
			s = s[i+1:]
			continue
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			results = appendAll(results, s)
			break
		}
		results = appendAll(results, s[:i])
		name := s[i+1 : i+1+j]
		vals, ok := c.opts.Placeholders[name]
		if !ok {
			missing = append(missing, name)
		}
		var next []string
		for _, r := range results {
			for _, x := range vals {
				next = append(next, r+x)
			}
		}
		results = next
		s = s[i+2+j:]
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		c.warnings = append(c.warnings, sigma.Errorf(v.Pos, "placeholder %%%s%% has no values (give them with --placeholders); the value matches nothing", strings.Join(missing, "%, %")))
	}
	return results, nil
}

func appendAll(rs []string, s string) []string {
	for i := range rs {
		rs[i] += s
	}
	return rs
}
