package convert

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/vigil-detect/vigil/sigma"
)

// Backend writes query trees in one query language.
type Backend interface {
	// Name is the target's name (--target).
	Name() string
	// Formats lists the output formats; the first is the default.
	Formats() []string
	// Rule writes one rule's query.
	Rule(p *Prepared, format string) (string, error)
	// Correlation writes a correlation rule over its (prepared) rules.
	Correlation(c *sigma.Correlation, rules []*Prepared, format string) (string, error)
}

// Finisher is implemented by back ends whose format combines the queries
// into one document (such as Splunk's savedsearches.conf).
type Finisher interface {
	Finish(qs []Query, format string) (string, bool)
}

// Query is one converted rule or correlation.
type Query struct {
	Title string
	ID    string
	Pos   sigma.Pos
	Text  string
	Rule  *sigma.Rule
	Corr  *sigma.Correlation
	// Meta is the document's descriptive attributes.
	Meta *sigma.Meta
	// Warnings say what the target left out of the query (detection
	// items on columns its table does not have) and why.
	Warnings []*Warning
}

var backends = map[string]Backend{}

// Register makes a back end available by name; back-end packages call it
// from init.
func Register(b Backend) { backends[b.Name()] = b }

// Lookup returns the back end called name.
func Lookup(name string) (Backend, bool) { b, ok := backends[name]; return b, ok }

// Targets lists the registered back ends.
func Targets() []string {
	var out []string
	for n := range backends {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// CheckFormat returns the format to use, or an error naming the formats.
func CheckFormat(b Backend, format string) (string, error) {
	fs := b.Formats()
	if format == "" {
		return fs[0], nil
	}
	for _, f := range fs {
		if f == format {
			return f, nil
		}
	}
	return "", fmt.Errorf("target %s has no output format %q (formats: %s)", b.Name(), format, strings.Join(fs, ", "))
}

// IsContext reports whether a rule only records context for vigil's own
// alerts (custom attribute vigil-role: context); such rules raise no alert
// and are not converted.
func IsContext(r *sigma.Rule) bool {
	v, _ := r.Custom["vigil-role"].(string)
	return v == "context"
}

// Convert converts a collection: every rule that no correlation consumes
// (unless the correlation sets generate: true), and every correlation, in
// file order. Problems are returned per document; one rule that cannot be
// converted never stops the others.
func Convert(coll *sigma.Collection, b Backend, pipes []*Pipeline, format string) ([]Query, []error) {
	format, err := CheckFormat(b, format)
	if err != nil {
		return nil, []error{err}
	}
	byName := map[string]*sigma.Rule{}
	for _, r := range coll.Rules {
		if r.ID != "" {
			byName[r.ID] = r
		}
		if r.Name != "" {
			byName[r.Name] = r
		}
	}
	consumed := map[*sigma.Rule]bool{}
	for _, c := range coll.Correlations {
		if c.Generate {
			continue
		}
		for _, n := range c.Rules {
			if r := byName[n]; r != nil {
				consumed[r] = true
			}
		}
	}
	var out []Query
	var errs []error
	prepared := map[*sigma.Rule]*Prepared{}
	prepare := func(r *sigma.Rule) (*Prepared, error) {
		if p, ok := prepared[r]; ok {
			return p, nil
		}
		p, err := safePrepare(r, coll.Filters, pipes)
		if err != nil {
			return nil, err
		}
		if ch, ok := b.(Checker); ok {
			if p.Warnings, err = safeCheck(ch, p); err != nil {
				return nil, err
			}
		}
		prepared[r] = p
		return p, nil
	}
	for _, r := range coll.Rules {
		if consumed[r] || IsContext(r) {
			continue
		}
		q := Query{Title: r.Title, ID: r.ID, Pos: r.Pos, Rule: r, Meta: &r.Meta}
		p, err := prepare(r)
		if err == nil {
			q.Warnings = p.Warnings
			q.Text, err = safeRule(b, p, format)
		}
		if err != nil {
			errs = append(errs, docErr(r.Pos, r.Title, err))
			continue
		}
		out = append(out, q)
	}
	corrByName := map[string]*sigma.Correlation{}
	for _, c := range coll.Correlations {
		if c.ID != "" {
			corrByName[c.ID] = c
		}
		if c.Name != "" {
			corrByName[c.Name] = c
		}
	}
	// A correlation that only says "any of these correlations fired" is
	// expressed by the correlations it reads: they are written, with its
	// descriptive attributes, and it has no query of its own.
	parent := map[*sigma.Correlation]*sigma.Correlation{}
	dedup := map[*sigma.Correlation]bool{}
	for _, c := range coll.Correlations {
		if inner, ok := anyOfCorrelations(c, corrByName); ok {
			dedup[c] = true
			for _, ic := range inner {
				parent[ic] = c
			}
		}
	}
	for _, c := range coll.Correlations {
		if dedup[c] {
			continue
		}
		if p := parent[c]; p != nil {
			c = inherit(c, p)
		}
		q := Query{Title: c.Title, ID: c.ID, Pos: c.Pos, Corr: c, Meta: &c.Meta}
		var rules []*Prepared
		var err error
		for i, n := range c.Rules {
			r := byName[n]
			if r == nil {
				pos := c.Pos
				if i < len(c.RulesPos) {
					pos = c.RulesPos[i]
				}
				if corrByName[n] != nil {
					err = errorf(pos, "correlation refers to correlation %q: a correlation of correlations is converted only when it is an event_count whose condition is any completion (gte: 1, gt: 0, neq: 0), which the inner correlations express by themselves", n)
				} else {
					err = errorf(pos, "correlation refers to rule %q, which is not among the converted rules", n)
				}
				break
			}
			var p *Prepared
			p, err = prepare(r)
			if err != nil {
				err = fmt.Errorf("rule %q: %w", n, err)
				break
			}
			rules = append(rules, p)
			q.Warnings = append(q.Warnings, p.Warnings...)
		}
		if err == nil {
			q.Text, err = safeCorrelation(b, c, rules, format)
		}
		if err != nil {
			errs = append(errs, docErr(c.Pos, c.Title, err))
			continue
		}
		out = append(out, q)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return out, errs
}

// anyOfCorrelations reports whether c is an event_count over correlations
// only, whose condition holds for any count from 1 up (gte: 1, gt: 0,
// neq: 0), and returns them. Such a correlation (the advisory's) fires
// once for any completion of its inner correlations within its group and
// window: it only de-duplicates what the inner correlations find. A
// target expresses it by the inner correlations themselves (each a
// deployable query); what is lost is the de-duplication between them
// (two alerts where vigil gives one, when both inner correlations
// complete for the same group, such as a process logged by Sysmon and by
// Security), which SIEMs leave to alert grouping or suppression.
func anyOfCorrelations(c *sigma.Correlation, corrs map[string]*sigma.Correlation) ([]*sigma.Correlation, bool) {
	if c.Type != "event_count" || len(c.Condition) == 0 || len(c.Rules) == 0 {
		return nil, false
	}
	for _, cc := range c.Condition {
		if cc.Holds(0) || !cc.Holds(1) {
			return nil, false
		}
		if cc.Op == "lt" || cc.Op == "lte" || cc.Op == "eq" {
			return nil, false
		}
	}
	var out []*sigma.Correlation
	for _, n := range c.Rules {
		ic := corrs[n]
		if ic == nil || ic == c {
			return nil, false
		}
		out = append(out, ic)
	}
	return out, true
}

// inherit returns a copy of the inner correlation c of p with the
// descriptive attributes c leaves empty taken from p (tags, level,
// references, false positives, description, author), so that the
// deployed query carries the alerting rule's attributes.
func inherit(c, p *sigma.Correlation) *sigma.Correlation {
	cp := *c
	m := &cp.Meta
	if len(m.Tags) == 0 {
		m.Tags = p.Tags
	}
	if len(m.References) == 0 {
		m.References = p.References
	}
	if len(m.FalsePositives) == 0 {
		m.FalsePositives = p.FalsePositives
	}
	if m.Level == "" {
		m.Level = p.Level
	}
	if m.Author == "" {
		m.Author = p.Author
	}
	if m.Description == "" {
		m.Description = p.Description
	}
	if len(m.Related) == 0 && p.ID != "" {
		m.Related = []sigma.Related{{ID: p.ID, Type: "derived"}}
	}
	return &cp
}

func docErr(pos sigma.Pos, title string, err error) error {
	if se, ok := err.(*sigma.Error); ok {
		if se.Doc == "" {
			se.Doc = title
		}
		return se
	}
	return &sigma.Error{Pos: pos, Doc: title, Msg: err.Error(), Err: err}
}

func safePrepare(r *sigma.Rule, filters []*sigma.Filter, pipes []*Pipeline) (p *Prepared, err error) {
	defer func() {
		if x := recover(); x != nil {
			err = errorf(r.Pos, "internal error converting rule %q: %v", r.Title, x)
		}
	}()
	return Prepare(r, filters, pipes)
}

func safeRule(b Backend, p *Prepared, format string) (s string, err error) {
	defer func() {
		if x := recover(); x != nil {
			err = errorf(p.Rule.Pos, "internal error converting rule %q to %s: %v", p.Rule.Title, b.Name(), x)
		}
	}()
	return b.Rule(p, format)
}

func safeCorrelation(b Backend, c *sigma.Correlation, rules []*Prepared, format string) (s string, err error) {
	defer func() {
		if x := recover(); x != nil {
			err = errorf(c.Pos, "internal error converting correlation %q to %s: %v", c.Title, b.Name(), x)
		}
	}()
	return b.Correlation(c, rules, format)
}

// Unsupported returns the error for a construct a target cannot express.
func Unsupported(pos sigma.Pos, target, format string, args ...any) *Error {
	return errorf(pos, "%s: %s", target, fmt.Sprintf(format, args...))
}

// Span writes a duration in the compact form Sigma uses (15s, 5m, 1h,
// 2d), choosing the largest exact unit.
func Span(d time.Duration) (int64, string) {
	switch {
	case d%(24*time.Hour) == 0:
		return int64(d / (24 * time.Hour)), "d"
	case d%time.Hour == 0:
		return int64(d / time.Hour), "h"
	case d%time.Minute == 0:
		return int64(d / time.Minute), "m"
	}
	return int64(d / time.Second), "s"
}

// CorrField returns the name of a correlation field in one rule's events:
// the alias when the correlation defines one for the rule, mapped by the
// rule's pipelines.
func CorrField(c *sigma.Correlation, p *Prepared, field string) string {
	if al, ok := c.Aliases[field]; ok {
		for ref, f := range al {
			if ref == p.Rule.Name || ref == p.Rule.ID {
				return p.MapField(f)
			}
		}
	}
	return p.MapField(field)
}

// RuleRef returns the name a correlation uses for one of its rules.
func RuleRef(c *sigma.Correlation, i int) string { return c.Rules[i] }

// CondOps returns the correlation's count condition, checked.
func CondOps(c *sigma.Correlation) []sigma.CountCondition {
	return c.Condition
}

// OpSymbol returns the comparison symbol of a count condition.
func OpSymbol(op string) string {
	switch op {
	case "gt":
		return ">"
	case "gte":
		return ">="
	case "lt":
		return "<"
	case "lte":
		return "<="
	case "eq":
		return "=="
	case "neq":
		return "!="
	}
	return "?"
}

// RangeSymbol returns the comparison symbol of a range condition (OpLT,
// OpLTE, OpGT, OpGTE): <, <=, >, >=; "" for other operators.
func RangeSymbol(op Op) string {
	switch op {
	case OpLT:
		return "<"
	case OpLTE:
		return "<="
	case OpGT:
		return ">"
	case OpGTE:
		return ">="
	}
	return ""
}

// CountConditions writes a correlation's count condition as comparisons
// of the column name ("name >= 5"), one per bound; eq is eqSymbol ("=="
// or "=").
func CountConditions(c *sigma.Correlation, name, eqSymbol string) []string {
	var parts []string
	for _, cc := range c.Condition {
		op := OpSymbol(cc.Op)
		if op == "==" {
			op = eqSymbol
		}
		parts = append(parts, fmt.Sprintf("%s %s %s", name, op, Num(cc.Value)))
	}
	return parts
}

// Num writes a number without a needless fraction.
func Num(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%g", f)
}

// PatternRegex writes a Pattern as an anchored Go/PCRE regular expression
// with vigil's glob semantics ('*' any run including newlines, '?' one
// character), for targets that cannot write the pattern as a wildcard
// value.
func PatternRegex(p Pattern, cased bool) string {
	var b strings.Builder
	if !cased {
		b.WriteString("(?i)")
	}
	b.WriteString("(?s)^")
	for _, t := range p {
		switch t.Kind {
		case Lit:
			b.WriteString(regexp.QuoteMeta(t.Lit))
		case Star:
			b.WriteString(".*")
		case One:
			b.WriteString(".")
		}
	}
	b.WriteString("$")
	return b.String()
}

// Conjuncts returns the top-level operands of an And, or the node itself.
func Conjuncts(n Node) []Node {
	if a, ok := n.(*And); ok {
		return a.Args
	}
	return []Node{n}
}

// SameFieldValues reports whether an Or compares one field with plain
// values (strings without cased, numbers), the shape of an IN list.
func SameFieldValues(o *Or, allowWild bool) (string, []*Cond, bool) {
	var field string
	var cs []*Cond
	for i, a := range o.Args {
		c, ok := a.(*Cond)
		if !ok || c.Field == "" || (c.Op != OpString && c.Op != OpNumber) || c.Cased {
			return "", nil, false
		}
		if c.Op == OpString && !allowWild && c.Pat.HasWildcards() {
			return "", nil, false
		}
		if i == 0 {
			field = c.Field
		} else if c.Field != field {
			return "", nil, false
		}
		cs = append(cs, c)
	}
	return field, cs, len(cs) > 1
}

// SameFieldList is SameFieldValues for any node: false unless n is such
// an Or.
func SameFieldList(n Node, allowWild bool) (string, []*Cond, bool) {
	o, ok := n.(*Or)
	if !ok {
		return "", nil, false
	}
	return SameFieldValues(o, allowWild)
}

// CorrKey returns the columns that identify a correlation's group-by
// field in one rule's events. Usually that is one column, the field
// (or the rule's alias of it) as the rule's pipelines map it. A pipeline
// can say that a field has no single column but is identified by several
// together, with the state "correlation_key.FIELD" holding the list: a
// process GUID in Defender XDR is DeviceId + ProcessId +
// ProcessCreationTime. Back ends that can join or group on several
// columns use them.
func CorrKey(c *sigma.Correlation, p *Prepared, field string) []string {
	f := field
	if al, ok := c.Aliases[field]; ok {
		for ref, af := range al {
			if ref == p.Rule.Name || ref == p.Rule.ID {
				f = af
			}
		}
	}
	if v, ok := p.State["correlation_key."+f]; ok {
		if cols := toStrings(v); len(cols) > 0 {
			return cols
		}
	}
	return []string{p.MapField(f)}
}

// DefaultPipeliner is implemented by back ends that, like their pySigma
// counterparts, apply pipelines when the user names none (KQL has no
// table without one).
type DefaultPipeliner interface {
	DefaultPipelines() []string
}

// DefaultPipelines returns the pipelines b applies when none is given.
func DefaultPipelines(b Backend) ([]*Pipeline, error) {
	d, ok := b.(DefaultPipeliner)
	if !ok {
		return nil, nil
	}
	var out []*Pipeline
	for _, n := range d.DefaultPipelines() {
		p, err := LoadPipeline(n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
