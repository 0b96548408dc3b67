// Package eql writes Sigma rules as Elastic EQL queries (target "eql").
// temporal_ordered correlations become sequences ("sequence by ... with
// maxspan=..."). Output formats: default, eqlapi, siem_rule,
// siem_rule_ndjson.
package eql

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/convert/elastic"
	"github.com/vigil-detect/vigil/sigma"
)

func init() { convert.Register(Backend{}) }

// Backend is the EQL target.
type Backend struct{}

// Name implements convert.Backend.
func (Backend) Name() string { return "eql" }

// Formats implements convert.Backend.
func (Backend) Formats() []string {
	return []string{"default", "eqlapi", "siem_rule", "siem_rule_ndjson"}
}

// categories maps Sigma log-source categories to EQL event categories.
var categories = map[string]string{
	"process_creation": "process", "process_termination": "process", "network_connection": "network",
	"file_event": "file", "file_change": "file", "file_delete": "file", "file_rename": "file", "file_access": "file",
	"registry_add": "registry", "registry_set": "registry", "registry_delete": "registry", "registry_event": "registry", "registry_rename": "registry",
	"dns_query": "dns", "image_load": "library", "driver_load": "driver",
}

func category(p *convert.Prepared) string {
	if c := categories[p.LogSource.Category]; c != "" {
		return c
	}
	return "any"
}

var (
	field = elastic.Field
	str   = elastic.String
)

// wildcard writes a pattern for ":" and like: EQL has no escape for a
// literal '*' or '?' there.
func wildcard(p convert.Pattern) (string, bool) {
	for _, t := range p {
		if t.Kind == convert.Lit && strings.ContainsAny(t.Lit, "*?") {
			return "", false
		}
	}
	return str(p.Plain()), true
}

func regexCond(f, re string, pos sigma.Pos) (string, error) {
	l, err := convert.LuceneRegex(re)
	if err != nil {
		return "", convert.Unsupported(pos, "eql", "regular expression %q: %v", re, err)
	}
	return field(f) + " regex " + str(l), nil
}

func cond(c *convert.Cond) (string, error) {
	f := field(c.Field)
	if c.Field == "" {
		return "", convert.Unsupported(c.Pos, "eql", "keyword search %q: EQL has no full-text search", c.Pat.Plain())
	}
	switch c.Op {
	case convert.OpString:
		if len(c.Pat) == 0 {
			return f + `==""`, nil
		}
		w, ok := wildcard(c.Pat)
		if !ok {
			return regexCond(c.Field, convert.PatternRegex(c.Pat, c.Cased), c.Pos)
		}
		if c.Cased {
			if c.Pat.HasWildcards() {
				return f + " like " + w, nil
			}
			return f + " == " + w, nil
		}
		return f + ":" + w, nil
	case convert.OpNumber:
		return f + " == " + c.Text, nil
	case convert.OpCIDR:
		return "cidrMatch(" + f + ", " + str(c.CIDR) + ")", nil
	case convert.OpExists:
		if c.Exists {
			return "?" + f + " != null", nil
		}
		return "?" + f + " == null", nil
	case convert.OpNull:
		return "?" + f + " == null", nil
	case convert.OpLT, convert.OpLTE, convert.OpGT, convert.OpGTE:
		return f + " " + convert.RangeSymbol(c.Op) + " " + convert.Num(c.Num), nil
	case convert.OpRegex:
		return regexCond(c.Field, c.Regex, c.Pos)
	case convert.OpFieldRef:
		return "", convert.Unsupported(c.Pos, "eql", "field reference (fieldref %s): EQL compares fields with constants only", c.Ref)
	}
	return "", convert.Unsupported(c.Pos, "eql", "comparison %v", c.Op)
}

// syntax writes EQL's boolean logic: negations and negated operands in
// parentheses, a null test (written with "?") too.
var syntax = convert.Syntax{
	Target: "eql", Cond: cond, Node: node, And: " and ", Or: " or ",
	Not: func(arg convert.Node, s string) string {
		if _, ok := arg.(*convert.Cond); !ok {
			s = "(" + s + ")"
		}
		return "not " + s
	},
	Paren: func(a convert.Node, _ string) bool {
		switch x := a.(type) {
		case *convert.And, *convert.Or, *convert.Not:
			return true
		case *convert.Cond:
			return x.Op == convert.OpNull
		}
		return false
	},
}

// node writes EQL's own forms: a negated null test and a like~ list.
func node(n convert.Node) (string, bool, error) {
	switch n := n.(type) {
	case *convert.Not:
		if c, ok := n.Arg.(*convert.Cond); ok && c.Op == convert.OpNull {
			return "?" + field(c.Field) + " != null", true, nil
		}
	case *convert.Or:
		f, cs, ok := convert.SameFieldValues(n, true)
		if !ok {
			return "", false, nil
		}
		var vs []string
		for _, c := range cs {
			if c.Op == convert.OpNumber {
				vs = append(vs, c.Text)
				continue
			}
			w, ok := wildcard(c.Pat)
			if !ok {
				return "", false, nil
			}
			vs = append(vs, w)
		}
		return field(f) + " like~ (" + strings.Join(vs, ", ") + ")", true, nil
	}
	return "", false, nil
}

// Expr writes a query tree as an EQL condition.
func Expr(n convert.Node) (string, error) { return syntax.Expr(n) }

// Rule implements convert.Backend.
func (Backend) Rule(p *convert.Prepared, format string) (string, error) {
	if err := convert.CheckNames("eql", p, nil); err != nil {
		return "", err
	}
	s, err := Expr(p.Tree)
	if err != nil {
		return "", err
	}
	return wrap(p.Rule.Meta, category(p)+" where "+s, elastic.Index(p.State), format)
}

func wrap(m sigma.Meta, q string, index []string, format string) (string, error) {
	switch format {
	case "eqlapi":
		b, err := json.Marshal(map[string]any{"query": q})
		return string(b), err
	case "siem_rule", "siem_rule_ndjson":
		return elastic.SiemRule(m, "eql", "eql", q, index, format == "siem_rule")
	}
	return q, nil
}

// Correlation implements convert.Backend: temporal_ordered correlations
// become sequences; EQL has no counting or unordered form.
func (Backend) Correlation(c *sigma.Correlation, rules []*convert.Prepared, format string) (string, error) {
	for _, p := range rules {
		if err := convert.CheckNames("eql", p, c); err != nil {
			return "", err
		}
	}
	if c.Type != "temporal_ordered" {
		return "", convert.Unsupported(c.Pos, "eql", "correlation type %q: EQL expresses ordered sequences only (temporal_ordered); use target esql, splunk or kql", c.Type)
	}
	if len(c.Condition) > 0 {
		return "", convert.Unsupported(c.Pos, "eql", "temporal_ordered with a count condition")
	}
	// Without aliases the join keys are the same in every query:
	// "sequence by k". A group-by alias names the key per rule, which EQL
	// writes as "by" after each query (the keys are compared in order).
	aliased := false
	for _, g := range c.GroupBy {
		if _, ok := c.Aliases[g]; ok {
			aliased = true
		}
	}
	var b strings.Builder
	b.WriteString("sequence")
	if len(c.GroupBy) > 0 && !aliased {
		var gs []string
		for _, g := range c.GroupBy {
			gs = append(gs, field(rules[0].MapField(g)))
		}
		b.WriteString(" by " + strings.Join(gs, ", "))
	}
	n, unit := convert.Span(c.Timespan)
	fmt.Fprintf(&b, " with maxspan=%d%s\n", n, unit)
	for _, p := range rules {
		s, err := Expr(p.Tree)
		if err != nil {
			return "", err
		}
		if p.LogSource.Category == "process_creation" {
			// EQL's process category holds every process event (start,
			// end, ...): a process_creation rule reads starts only.
			s = `event.type == "start" and ` + s
		}
		fmt.Fprintf(&b, "  [%s where %s]", category(p), s)
		if aliased {
			var keys []string
			for _, g := range c.GroupBy {
				keys = append(keys, field(convert.CorrField(c, p, g)))
			}
			b.WriteString(" by " + strings.Join(keys, ", "))
		}
		b.WriteString("\n")
	}
	m := c.Meta
	return wrap(m, strings.TrimSuffix(b.String(), "\n"), nil, format)
}

// Check implements convert.Checker: a warning when the query has more
// clauses than Elasticsearch's lowest limit.
func (Backend) Check(p *convert.Prepared) ([]*convert.Warning, error) {
	return elastic.CheckClauses(p, "eql")
}
