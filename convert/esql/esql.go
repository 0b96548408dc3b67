// Package esql writes Sigma rules as Elasticsearch ES|QL queries (target
// "esql"); counting correlations become STATS ... BY over time buckets.
// ES|QL compares strings case-sensitively, so vigil folds case with
// to_lower() as Sigma requires (unless the rule says cased). Output
// formats: default, siem_rule, siem_rule_ndjson.
package esql

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/convert/elastic"
	"github.com/vigil-detect/vigil/sigma"
)

func init() { convert.Register(Backend{}) }

// Backend is the ES|QL target.
type Backend struct{}

// Name implements convert.Backend.
func (Backend) Name() string { return "esql" }

// Formats implements convert.Backend.
func (Backend) Formats() []string { return []string{"default", "siem_rule", "siem_rule_ndjson"} }

var (
	field = elastic.Field
	str   = elastic.String
)

func likePattern(p convert.Pattern, fold bool) string {
	var b strings.Builder
	for _, t := range p {
		switch t.Kind {
		case convert.Lit:
			l := t.Lit
			if fold {
				l = strings.ToLower(l)
			}
			b.WriteString(strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(l))
		case convert.Star:
			b.WriteByte('*')
		case convert.One:
			b.WriteByte('?')
		}
	}
	return str(b.String())
}

// hasCase reports whether s holds a character that case folding changes.
func hasCase(s string) bool { return strings.ToLower(s) != strings.ToUpper(s) }

func cond(c *convert.Cond) (string, error) {
	if c.Field == "" {
		return "", convert.Unsupported(c.Pos, "esql", "keyword search %q: ES|QL has no search over every field", c.Pat.Plain())
	}
	f := field(c.Field)
	fl := f
	lower := func(s string) string { return s }
	if !c.Cased {
		fl = "to_lower(" + f + ")"
		lower = strings.ToLower
	}
	switch c.Op {
	case convert.OpString:
		shape, lit := c.Pat.Shape()
		if !hasCase(c.Pat.Plain()) {
			// Folding cannot change whether a value without letters
			// matches: compare the field as it is (as pySigma writes it).
			fl = f
		}
		switch shape {
		case convert.ShapeExact:
			return fl + "==" + str(lower(lit)), nil
		case convert.ShapePrefix:
			return "starts_with(" + fl + ", " + str(lower(lit)) + ")", nil
		case convert.ShapeSuffix:
			return "ends_with(" + fl + ", " + str(lower(lit)) + ")", nil
		case convert.ShapeAny:
			return f + " IS NOT NULL", nil
		}
		return fl + " like " + likePattern(c.Pat, !c.Cased), nil
	case convert.OpNumber:
		return f + "==" + c.Text, nil
	case convert.OpCIDR:
		return "cidr_match(" + f + ", " + str(c.CIDR) + ")", nil
	case convert.OpExists:
		if c.Exists {
			return f + " IS NOT NULL", nil
		}
		return f + " IS NULL", nil
	case convert.OpNull:
		return f + " IS NULL", nil
	case convert.OpLT, convert.OpLTE, convert.OpGT, convert.OpGTE:
		return f + " " + convert.RangeSymbol(c.Op) + " " + convert.Num(c.Num), nil
	case convert.OpRegex:
		l, err := convert.LuceneRegex(c.Regex)
		if err != nil {
			return "", convert.Unsupported(c.Pos, "esql", "regular expression %q: %v", c.RegexBody, err)
		}
		return f + " rlike " + str(l), nil
	case convert.OpFieldRef:
		r := field(c.Ref)
		if !c.Cased {
			r = "to_lower(" + r + ")"
		}
		switch c.RefAnchor {
		case convert.StartsWith:
			return "starts_with(" + fl + ", " + r + ")", nil
		case convert.EndsWith:
			return "ends_with(" + fl + ", " + r + ")", nil
		case convert.Contains:
			return "locate(" + fl + ", " + r + ") > 0", nil
		}
		return fl + "==" + r, nil
	}
	return "", convert.Unsupported(c.Pos, "esql", "comparison %v", c.Op)
}

var syntax = convert.Syntax{
	Target: "esql", Cond: cond, Node: inList, And: " and ", Or: " or ",
	Not: func(_ convert.Node, s string) string { return "not (" + s + ")" },
}

// inList writes an Or comparing one field with plain values as "in".
func inList(n convert.Node) (string, bool, error) {
	f, cs, ok := convert.SameFieldList(n, false)
	if !ok {
		return "", false, nil
	}
	var vs []string
	num := false
	for _, c := range cs {
		if c.Op == convert.OpNumber {
			num = true
			vs = append(vs, c.Text)
		} else {
			vs = append(vs, str(strings.ToLower(c.Pat.Plain())))
		}
	}
	fl := "to_lower(" + field(f) + ")"
	folds := false
	for _, c := range cs {
		if c.Op == convert.OpString && hasCase(c.Pat.Plain()) {
			folds = true
		}
	}
	if !folds {
		fl = field(f)
	}
	if num {
		fl = field(f)
		for _, c := range cs {
			if c.Op != convert.OpNumber {
				return "", false, nil
			}
		}
	}
	return fl + " in (" + strings.Join(vs, ", ") + ")", true, nil
}

// Expr writes a query tree as an ES|QL boolean expression.
func Expr(n convert.Node) (string, error) { return syntax.Expr(n) }

func from(ps ...*convert.Prepared) string {
	var idx []string
	seen := map[string]bool{}
	for _, p := range ps {
		for _, i := range elastic.Index(p.State) {
			if !seen[i] {
				seen[i] = true
				idx = append(idx, i)
			}
		}
	}
	if len(idx) == 0 || seen["*"] {
		idx = []string{"*"}
	}
	return "from " + strings.Join(idx, ",") + " metadata _id, _index, _version"
}

// indexPattern matches the index patterns written unquoted after FROM:
// no white space, quotes, pipes, commas or control characters, which
// would end the pattern and start something else.
var indexPattern = regexp.MustCompile(`^[^\s"'\x60|,()\[\]\x00-\x1f\x7f]+$`)

// checkIndex refuses index patterns (pipeline state "index") that FROM
// cannot take unquoted.
func checkIndex(ps ...*convert.Prepared) error {
	for _, p := range ps {
		for _, i := range elastic.Index(p.State) {
			if !indexPattern.MatchString(i) || convert.HasBreaking(i) {
				return convert.Unsupported(p.Rule.Pos, "esql", "index pattern %q: not a plain index pattern (it holds white space, a quote, pipe, comma, bracket or control character)", i)
			}
		}
	}
	return nil
}

// Rule implements convert.Backend.
func (Backend) Rule(p *convert.Prepared, format string) (string, error) {
	if err := convert.CheckNames("esql", p, nil); err != nil {
		return "", err
	}
	if err := checkIndex(p); err != nil {
		return "", err
	}
	s, err := Expr(p.Tree)
	if err != nil {
		return "", err
	}
	return wrap(p.Rule.Meta, from(p)+" | where "+s, format)
}

func corrFields(c *sigma.Correlation, rules []*convert.Prepared) []string {
	skip := map[string]bool{}
	for _, g := range c.GroupBy {
		skip[g] = true
		for _, p := range rules {
			skip[p.MapField(g)] = true
		}
	}
	var out []string
	add := func(f string) {
		if !skip[f] {
			skip[f] = true
			out = append(out, f)
		}
	}
	for _, p := range rules {
		for _, f := range p.Fields {
			add(f)
		}
	}
	return out
}

// temporalOrdered writes a two-rule temporal_ordered correlation: per
// group and aligned bucket of the timespan, the earliest event of the
// first rule is at or before the latest event of the second. That is
// exactly "some event of the first is followed by some event of the
// second" within the bucket; as for the other correlations, a pair that
// straddles a bucket boundary is missed. A longer chain cannot be tested
// with aggregations and is refused. Group-by aliases become one eval per
// field choosing each rule's field.
func temporalOrdered(c *sigma.Correlation, rules []*convert.Prepared, format string) (string, error) {
	if len(rules) != 2 {
		return "", convert.Unsupported(c.Pos, "esql", "temporal_ordered correlation of %d rules: ES|QL can test the order of two events per bucket, not a longer chain; use target eql", len(rules))
	}
	if len(c.Condition) > 0 {
		return "", convert.Unsupported(c.Pos, "esql", "temporal_ordered with a count condition")
	}
	if len(c.GroupBy) == 0 {
		return "", convert.Unsupported(c.Pos, "esql", "temporal_ordered correlation without group-by")
	}
	var conds []string
	for _, p := range rules {
		s, err := Expr(p.Tree)
		if err != nil {
			return "", err
		}
		conds = append(conds, "("+s+")")
	}
	var b strings.Builder
	b.WriteString(from(rules...) + " | where " + strings.Join(conds, " or "))
	var gs, evals []string
	for k, g := range c.GroupBy {
		if _, ok := c.Aliases[g]; ok {
			name := fmt.Sprintf("group_%d", k)
			evals = append(evals, fmt.Sprintf("%s=case(%s, %s, %s, %s)", name, conds[0], field(convert.CorrField(c, rules[0], g)), conds[1], field(convert.CorrField(c, rules[1], g))))
			gs = append(gs, name)
			continue
		}
		gs = append(gs, field(rules[0].MapField(g)))
	}
	if len(evals) > 0 {
		b.WriteString("\n| eval " + strings.Join(evals, ", "))
	}
	// ES|QL groups a missing key as null: events without the group's
	// fields would join each other.
	var notNull []string
	for _, g := range gs {
		notNull = append(notNull, g+" is not null")
	}
	b.WriteString("\n| where " + strings.Join(notNull, " and "))
	fmt.Fprintf(&b, "\n| eval timebucket=%s, first_time=case(%s, @timestamp), second_time=case(%s, @timestamp)", timebucket(c), conds[0], conds[1])
	fmt.Fprintf(&b, "\n| stats first_time=min(first_time), second_time=max(second_time) by %s", strings.Join(append([]string{"timebucket"}, gs...), ", "))
	b.WriteString("\n| where first_time <= second_time")
	return wrap(c.Meta, b.String(), format)
}

// timebucket writes the bucket of the correlation's timespan an event
// falls in (aligned windows).
func timebucket(c *sigma.Correlation) string {
	n, unit := convert.Span(c.Timespan)
	units := map[string]string{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]
	return fmt.Sprintf("date_trunc(%d%s, @timestamp)", n, units)
}

func wrap(m sigma.Meta, q, format string) (string, error) {
	if format == "siem_rule" || format == "siem_rule_ndjson" {
		return elastic.SiemRule(m, "esql", "esql", q, nil, format == "siem_rule")
	}
	return q, nil
}

// Correlation implements convert.Backend: counting and temporal
// correlations become STATS over buckets of the timespan (aligned
// windows, as pySigma writes them); temporal_ordered is refused.
func (Backend) Correlation(c *sigma.Correlation, rules []*convert.Prepared, format string) (string, error) {
	for _, p := range rules {
		if err := convert.CheckNames("esql", p, c); err != nil {
			return "", err
		}
		if err := checkIndex(p); err != nil {
			return "", err
		}
	}
	if c.Type == "temporal_ordered" {
		return temporalOrdered(c, rules, format)
	}
	var conds []string
	var cases []string
	for i, p := range rules {
		s, err := Expr(p.Tree)
		if err != nil {
			return "", err
		}
		if len(rules) > 1 {
			s = "(" + s + ")"
		}
		conds = append(conds, s)
		cases = append(cases, s, str(c.Rules[i]))
	}
	var b strings.Builder
	b.WriteString(from(rules...) + " | where " + strings.Join(conds, " or "))
	var gs []string
	for _, g := range c.GroupBy {
		if _, ok := c.Aliases[g]; ok {
			return "", convert.Unsupported(c.Pos, "esql", "group-by alias %q: not converted", g)
		}
		gs = append(gs, field(rules[0].MapField(g)))
	}
	by := strings.Join(append([]string{"timebucket"}, gs...), ", ")
	var name, agg string
	switch c.Type {
	case "event_count":
		name, agg = "event_count", "count()"
	case "value_count":
		name, agg = "value_count", "count_distinct("+field(c.Field)+")"
	case "value_sum":
		name, agg = "value_sum", "sum("+field(c.Field)+")"
	case "value_avg":
		name, agg = "value_avg", "avg("+field(c.Field)+")"
	case "value_median":
		name, agg = "value_median", "median("+field(c.Field)+")"
	case "value_percentile":
		name, agg = "value_percentile", fmt.Sprintf("percentile(%s, %s)", field(c.Field), convert.Num(c.Percentile))
	case "temporal":
		name, agg = "event_type_count", "count_distinct(event_type)"
		fmt.Fprintf(&b, "\n| eval event_type=case(%s)", strings.Join(cases, ", "))
	default:
		return "", convert.Unsupported(c.Pos, "esql", "correlation type %q", c.Type)
	}
	// The fields of the referenced rules are kept as value lists (as
	// pySigma writes them), except the group-by fields.
	aggs := name + "=" + agg
	for _, f := range corrFields(c, rules) {
		aggs += fmt.Sprintf(", %s=values(%s)", field(f), field(f))
	}
	fmt.Fprintf(&b, "\n| eval timebucket=%s | stats %s by %s\n", timebucket(c), aggs, by)
	parts := convert.CountConditions(c, name, "==")
	if len(parts) == 0 && c.Type == "temporal" {
		parts = []string{fmt.Sprintf("%s >= %d", name, len(rules))}
	}
	if len(parts) == 0 {
		return "", convert.Unsupported(c.Pos, "esql", "correlation without a condition")
	}
	b.WriteString("| where " + strings.Join(parts, " and "))
	return wrap(c.Meta, b.String(), format)
}

// Check implements convert.Checker: a warning when the query has more
// clauses than Elasticsearch's lowest limit.
func (Backend) Check(p *convert.Prepared) ([]*convert.Warning, error) {
	return elastic.CheckClauses(p, "esql")
}
