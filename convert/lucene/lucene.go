// Package lucene writes Sigma rules as Lucene query strings for Kibana and
// Elasticsearch (target "lucene"), in pySigma's forms. Output formats:
// default, dsl_lucene, siem_rule, siem_rule_ndjson, kibana_ndjson.
//
// Lucene compares values as the index analyses them: on keyword fields a
// term is case-sensitive, which no query string can change. vigil writes
// values as the rule does, as pySigma does; docs/convert.md explains.
package lucene

import (
	"encoding/json"
	"strings"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/convert/elastic"
	"github.com/vigil-detect/vigil/sigma"
)

func init() { convert.Register(Backend{}) }

// Backend is the Lucene target.
type Backend struct{}

// Name implements convert.Backend.
func (Backend) Name() string { return "lucene" }

// Formats implements convert.Backend.
func (Backend) Formats() []string {
	return []string{"default", "dsl_lucene", "siem_rule", "siem_rule_ndjson", "kibana_ndjson"}
}

func value(p convert.Pattern) string {
	if len(p) == 0 {
		return `""`
	}
	var b strings.Builder
	for _, t := range p {
		switch t.Kind {
		case convert.Lit:
			b.WriteString(Escape(t.Lit))
		case convert.Star:
			b.WriteByte('*')
		case convert.One:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// rangeLike reports whether a value starts with "<" or ">", which
// Elasticsearch's query_string reads as a range (field:<x) even escaped.
func rangeLike(p convert.Pattern) bool {
	return len(p) > 0 && p[0].Kind == convert.Lit && strings.IndexAny(p[0].Lit, "<>") == 0
}

func cond(c *convert.Cond) (string, error) {
	f := Escape(c.Field)
	switch c.Op {
	case convert.OpString:
		if c.Field == "" {
			return value(c.Pat), nil
		}
		if rangeLike(c.Pat) {
			// Not a range: a quoted term, or, with wildcards, the
			// pattern as a regular expression.
			if !c.Pat.HasWildcards() {
				return f + ":\"" + Escape(c.Pat.Plain()) + "\"", nil
			}
			re, err := convert.LuceneRegex(convert.PatternRegex(c.Pat, true))
			if err != nil {
				return "", convert.Unsupported(c.Pos, "lucene", "value %q: %v", c.Pat.Plain(), err)
			}
			return f + ":/" + re + "/", nil
		}
		return f + ":" + value(c.Pat), nil
	case convert.OpNumber:
		return f + ":" + Escape(c.Text), nil
	case convert.OpCIDR:
		return f + ":" + Escape(c.CIDR), nil
	case convert.OpExists:
		if c.Exists {
			return "_exists_:" + f, nil
		}
		return "NOT _exists_:" + f, nil
	case convert.OpNull:
		return "NOT _exists_:" + f, nil
	case convert.OpLT, convert.OpLTE, convert.OpGT, convert.OpGTE:
		return f + ":" + convert.RangeSymbol(c.Op) + convert.Num(c.Num), nil
	case convert.OpRegex:
		if c.Field == "" {
			return "", convert.Unsupported(c.Pos, "lucene", "regular expression without a field")
		}
		re, err := convert.LuceneRegex(c.Regex)
		if err != nil {
			return "", convert.Unsupported(c.Pos, "lucene", "regular expression %q: %v", c.RegexBody, err)
		}
		return f + ":/" + re + "/", nil
	case convert.OpFieldRef:
		return "", convert.Unsupported(c.Pos, "lucene", "field reference (fieldref %s): Lucene query strings cannot compare two fields", c.Ref)
	}
	return "", convert.Unsupported(c.Pos, "lucene", "comparison %v", c.Op)
}

// syntax writes Lucene's boolean logic: negations are parenthesised as
// operands, and so is an IN list inside AND.
var syntax = convert.Syntax{
	Target: "lucene", Cond: cond, Node: node, And: " AND ", Or: " OR ",
	Not: func(arg convert.Node, s string) string {
		if convert.IsAndOr(arg) {
			s = "(" + s + ")"
		}
		return "NOT " + s
	},
	Paren: func(a convert.Node, sep string) bool {
		return convert.IsAndOr(a) || isNot(a) || isIn(a) && sep == " AND "
	},
}

// node writes Lucene's own forms: a negated null test and an IN list.
func node(n convert.Node) (string, bool, error) {
	switch n := n.(type) {
	case *convert.Not:
		if c, ok := n.Arg.(*convert.Cond); ok && c.Op == convert.OpNull {
			return "_exists_:" + Escape(c.Field), true, nil
		}
	case *convert.Or:
		if f, cs, ok := convert.SameFieldValues(n, true); ok {
			var vs []string
			for _, c := range cs {
				if c.Op == convert.OpString && rangeLike(c.Pat) {
					return "", false, nil
				}
			}
			for _, c := range cs {
				if c.Op == convert.OpNumber {
					vs = append(vs, Escape(c.Text))
				} else {
					vs = append(vs, value(c.Pat))
				}
			}
			return Escape(f) + ":(" + strings.Join(vs, " OR ") + ")", true, nil
		}
	}
	return "", false, nil
}

// Expr writes a query tree as a Lucene query string.
func Expr(n convert.Node) (string, error) { return syntax.Expr(n) }

func isNot(n convert.Node) bool {
	if c, ok := n.(*convert.Cond); ok {
		return c.Op == convert.OpNull
	}
	_, ok := n.(*convert.Not)
	return ok
}

func isIn(n convert.Node) bool {
	_, _, in := convert.SameFieldList(n, true)
	return in
}

// Rule implements convert.Backend.
func (Backend) Rule(p *convert.Prepared, format string) (string, error) {
	q, err := Expr(p.Tree)
	if err != nil {
		return "", err
	}
	switch format {
	case "dsl_lucene":
		b, _ := json.Marshal(map[string]any{"query": map[string]any{"bool": map[string]any{"must": []any{
			map[string]any{"query_string": map[string]any{"query": q, "analyze_wildcard": true}}}}}})
		return string(b), nil
	case "siem_rule", "siem_rule_ndjson":
		return elastic.SiemRule(p.Rule.Meta, "query", "lucene", q, elastic.Index(p.State), format == "siem_rule")
	case "kibana_ndjson":
		return elastic.KibanaSearch(p.Rule.Meta, "lucene", q, elastic.Index(p.State))
	}
	return q, nil
}

// Correlation implements convert.Backend: Lucene has no aggregation.
func (Backend) Correlation(c *sigma.Correlation, rules []*convert.Prepared, format string) (string, error) {
	return "", convert.Unsupported(c.Pos, "lucene", "correlation rules (%s): a Lucene (Kibana) query string matches single events and has no joins or aggregations; use --target eql (sequence) or --target esql (STATS)", c.Type)
}

// Check implements convert.Checker: a warning when the query has more
// clauses than Elasticsearch's lowest limit.
func (Backend) Check(p *convert.Prepared) ([]*convert.Warning, error) {
	return elastic.CheckClauses(p, "lucene")
}
