// Package splunk writes Sigma rules as Splunk SPL searches (target
// "splunk"), in the forms pySigma's Splunk back end uses: search terms,
// deferred "| regex" and "| where" commands, rex/eval for regular
// expressions nested in boolean logic, and stats or streamstats for
// correlations. Output formats: default, savedsearches, data_model (tstats
// over a CIM data model, datamodel.go).
package splunk

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/sigma"
)

// nonWord matches the characters a Splunk eval variable name drops.
var nonWord = regexp.MustCompile(`\W`)

func init() { convert.Register(Backend{}) }

// Backend is the Splunk SPL target.
type Backend struct{}

// Name implements convert.Backend.
func (Backend) Name() string { return "splunk" }

// Formats implements convert.Backend.
func (Backend) Formats() []string { return []string{"default", "savedsearches", "data_model"} }

// query is a search being written.
type query struct {
	rexes []string       // "| rex"/"| eval" lines for nested regexes
	names map[string]int // regex capture names used, by base
}

// toRegex turns a string comparison Splunk cannot write as a value into
// the equivalent regular expression.
func toRegex(c *convert.Cond) *convert.Cond {
	if c.Op == convert.OpString && c.Field != "" && needsRegex(c.Pat) {
		x := *c
		x.Op, x.Regex = convert.OpRegex, convert.PatternRegex(c.Pat, c.Cased)
		return &x
	}
	return c
}

func (q *query) cond(c *convert.Cond) (string, error) {
	c = toRegex(c)
	f := field(c.Field)
	switch c.Op {
	case convert.OpString:
		if c.Field == "" {
			if needsRegex(c.Pat) {
				return "", convert.Unsupported(c.Pos, "splunk", "keyword %q: Splunk search has no single-character wildcard or literal '*'", c.Pat.Plain())
			}
			v := quote(c.Pat.Plain())
			if c.Cased {
				return "CASE(" + v + ")", nil
			}
			return v, nil
		}
		v := quote(c.Pat.Plain())
		if c.Cased {
			v = "CASE(" + v + ")"
		}
		return f + "=" + v, nil
	case convert.OpNumber:
		return f + "=" + c.Text, nil
	case convert.OpCIDR:
		return f + "=" + quote(c.CIDR), nil
	case convert.OpExists:
		if c.Exists {
			return f + "=*", nil
		}
		return "NOT " + f + "=*", nil
	case convert.OpNull:
		return "NOT " + f + "=*", nil
	case convert.OpLT, convert.OpLTE, convert.OpGT, convert.OpGTE:
		return f + convert.RangeSymbol(c.Op) + convert.Num(c.Num), nil
	case convert.OpRegex:
		base := nonWord.ReplaceAllString(c.Field[strings.LastIndex(c.Field, ".")+1:], "")
		if base == "" || base[0] >= '0' && base[0] <= '9' {
			base = "f" + base
		}
		q.names[base]++
		suffix := ""
		if n := q.names[base]; n > 1 {
			suffix = fmt.Sprint(n)
		}
		m, cond := base+"Match"+suffix, base+"Condition"+suffix
		q.rexes = append(q.rexes,
			fmt.Sprintf("| rex field=%s \"(?<%s>%s)\"", f, m, regexBody(c.Regex)),
			fmt.Sprintf("| eval %s=if(isnotnull(%s), \"true\", \"false\")", cond, m))
		return cond + `="true"`, nil
	case convert.OpFieldRef:
		return "", convert.Unsupported(c.Pos, "splunk", "field reference %q inside OR/NOT: only top-level field references (| where) are converted", c.Ref)
	}
	return "", convert.Unsupported(c.Pos, "splunk", "comparison %v", c.Op)
}

// expr writes n. In SPL, NOT binds tighter than OR, and OR tighter than
// the implicit AND.
func (q *query) expr(n convert.Node) (string, error) {
	switch n := n.(type) {
	case *convert.Cond:
		return q.cond(n)
	case *convert.Not:
		s, err := q.expr(n.Arg)
		if err != nil {
			return "", err
		}
		if _, ok := n.Arg.(*convert.Cond); !ok {
			s = "(" + s + ")"
		} else if strings.HasPrefix(s, "NOT ") {
			s = "(" + s + ")"
		}
		return "NOT " + s, nil
	case *convert.And:
		var parts []string
		for _, a := range n.Args {
			s, err := q.expr(a)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " "), nil
	case *convert.Or:
		if f, cs, ok := convert.SameFieldValues(n, true); ok && !anyRegex(cs) {
			var vs []string
			for _, c := range cs {
				if c.Op == convert.OpNumber {
					vs = append(vs, c.Text)
				} else {
					vs = append(vs, quote(c.Pat.Plain()))
				}
			}
			return field(f) + " IN (" + strings.Join(vs, ", ") + ")", nil
		}
		var parts []string
		for _, a := range n.Args {
			s, err := q.expr(a)
			if err != nil {
				return "", err
			}
			if _, ok := a.(*convert.And); ok {
				s = "(" + s + ")"
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " OR "), nil
	}
	return "", fmt.Errorf("splunk: unknown node %T", n)
}

func anyRegex(cs []*convert.Cond) bool {
	for _, c := range cs {
		if toRegex(c).Op == convert.OpRegex {
			return true
		}
	}
	return false
}

func hasRegex(n convert.Node) bool {
	found := false
	convert.Walk(n, func(c *convert.Cond) {
		if toRegex(c).Op == convert.OpRegex {
			found = true
		}
	})
	return found
}

// parts is a rule's search split as pySigma's Splunk back end writes it:
// the base search terms, the nested conjuncts that read regex matches
// (with the rex/eval lines before them), and the deferred commands.
type parts struct {
	base, nested []string
	rexes        []string
	deferred     []string
}

// writeAfter writes what follows the base search: the nested conjuncts
// (after their rex/eval lines) in a "| search", then the deferred
// commands.
func (pt *parts) writeAfter(b *strings.Builder) {
	if len(pt.nested) > 0 {
		for _, l := range pt.rexes {
			b.WriteString("\n" + l)
		}
		b.WriteString("\n| search " + strings.Join(pt.nested, " "))
	}
	for _, d := range pt.deferred {
		b.WriteString("\n" + d)
	}
}

func split(p *convert.Prepared, post func(convert.Node) (bool, error)) (*parts, error) {
	q := &query{names: map[string]int{}}
	out := &parts{}
	for _, n := range convert.Conjuncts(p.Tree) {
		if c, ok := n.(*convert.Cond); ok {
			if d, ok, err := deferCond(c, false); ok || err != nil {
				if err != nil {
					return nil, err
				}
				out.deferred = append(out.deferred, d)
				continue
			}
		}
		if x, ok := n.(*convert.Not); ok {
			if c, ok := x.Arg.(*convert.Cond); ok {
				if d, ok, err := deferCond(c, true); ok || err != nil {
					if err != nil {
						return nil, err
					}
					out.deferred = append(out.deferred, d)
					continue
				}
			}
		}
		s, err := q.expr(n)
		if err != nil {
			return nil, err
		}
		later := hasRegex(n)
		if !later && post != nil {
			if later, err = post(n); err != nil {
				return nil, err
			}
		}
		if later {
			out.nested = append(out.nested, s)
		} else {
			out.base = append(out.base, s)
		}
	}
	out.rexes = q.rexes
	return out, nil
}

// Search writes the search of a prepared rule: the base search, deferred
// commands, and nested regexes through rex/eval. The result is a search
// (it may start with "|" lines after an empty base).
func Search(p *convert.Prepared) (string, error) {
	pt, err := split(p, nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	switch {
	case len(pt.base) > 0:
		b.WriteString(strings.Join(pt.base, " "))
	case len(pt.nested) == 0:
		b.WriteString("*")
	}
	pt.writeAfter(&b)
	return b.String(), nil
}

// deferCond writes a top-level regex or field reference as a command
// after the search.
func deferCond(c *convert.Cond, neg bool) (string, bool, error) {
	c = toRegex(c)
	switch c.Op {
	case convert.OpRegex:
		if c.Field == "" {
			return "", false, convert.Unsupported(c.Pos, "splunk", "regular expression without a field")
		}
		op := "="
		if neg {
			op = "!="
		}
		return "| regex " + field(c.Field) + op + `"` + regexBody(c.Regex) + `"`, true, nil
	case convert.OpFieldRef:
		a, r := evalField(c.Field), evalField(c.Ref)
		if !c.Cased {
			a, r = "lower("+a+")", "lower("+r+")"
		}
		var e string
		switch c.RefAnchor {
		case convert.Whole:
			e = a + "=" + r
		case convert.StartsWith:
			e = "substr(" + a + ", 1, len(" + r + "))=" + r
		case convert.EndsWith:
			e = "substr(" + a + ", len(" + a + ")-len(" + r + ")+1)=" + r
		default:
			return "", false, convert.Unsupported(c.Pos, "splunk", "fieldref|contains: SPL eval has no substring test that takes a field without wildcard characters")
		}
		if neg {
			e = "NOT (" + e + ")"
		}
		return "| where " + e, true, nil
	}
	return "", false, nil
}

// Rule implements convert.Backend.
func (Backend) Rule(p *convert.Prepared, format string) (string, error) {
	if err := checkNames(p); err != nil {
		return "", err
	}
	if format == "data_model" {
		return DataModel(p)
	}
	s, err := Search(p)
	if err != nil {
		return "", err
	}
	if len(p.Fields) > 0 {
		sep := " "
		if format == "savedsearches" {
			sep = "\n"
		}
		t, err := tableFields(p)
		if err != nil {
			return "", err
		}
		s += sep + "| table " + t
	}
	return s, nil
}

// Finish implements convert.Finisher for the savedsearches format.
func (Backend) Finish(qs []convert.Query, format string) (string, bool) {
	if format != "savedsearches" {
		return "", false
	}
	var b strings.Builder
	b.WriteString("\n[default]\ndispatch.earliest_time = -30d\ndispatch.latest_time = now\n")
	for _, q := range qs {
		desc := ""
		if q.Meta != nil {
			desc = strings.TrimRight(q.Meta.Description, "\n")
		}
		fmt.Fprintf(&b, "\n[%s]\ndescription = %s\nsearch = %s\n", stanzaTitle(q.Title), confValue(desc), confValue(q.Text))
	}
	return strings.TrimSuffix(b.String(), "\n"), true
}

// Correlation implements convert.Backend.
func (Backend) Correlation(c *sigma.Correlation, rules []*convert.Prepared, format string) (string, error) {
	if format == "data_model" {
		return "", convert.Unsupported(c.Pos, "splunk", "%s correlation in the data_model format: it writes one tstats search per rule; convert correlations with the default or savedsearches format", c.Type)
	}
	for _, p := range rules {
		if err := checkNames(p); err != nil {
			return "", err
		}
	}
	if err := checkCorrNames(c); err != nil {
		return "", err
	}
	var b strings.Builder
	if len(rules) == 1 {
		s, err := Search(rules[0])
		if err != nil {
			return "", err
		}
		b.WriteString(s + "\n")
	} else {
		b.WriteString("| multisearch\n")
		for i, p := range rules {
			s, err := Search(p)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "[ search %s | eval event_type=%s", s, quote(c.Rules[i]))
			for _, alias := range sortedKeys(c.Aliases) {
				if f := aliasField(c, p, alias); f != "" && f != alias {
					fmt.Fprintf(&b, " | rename %s as %s", field(f), field(alias))
				}
			}
			b.WriteString(" ]\n")
		}
		// A process id read through aliases from several events is
		// written in hex by some (Security 4688 NewProcessId: 0x1a2c)
		// and in decimal by others (5156, Sysmon): compare numbers.
		for _, g := range c.GroupBy {
			if _, ok := c.Aliases[g]; ok && strings.HasSuffix(strings.ToLower(g), "processid") {
				f := field(g)
				fmt.Fprintf(&b, "| eval %s=if(match(%s, \"^0[xX][0-9a-fA-F]+$\"), tonumber(substr(%s, 3), 16), tonumber(%s))\n", f, f, f, f)
			}
		}
	}
	group := make([]string, len(c.GroupBy))
	for i, g := range c.GroupBy {
		group[i] = field(mapGroup(c, rules, g))
	}
	n, unit := convert.Span(c.Timespan)
	span := fmt.Sprintf("%d%s", n, unit)
	by := strings.TrimSpace("_time " + strings.Join(group, " "))
	cond := func(name string) (string, error) {
		parts := convert.CountConditions(c, name, "=")
		if len(parts) == 0 {
			return "", convert.Unsupported(c.Pos, "splunk", "correlation without a condition")
		}
		return "| search " + strings.Join(parts, " "), nil
	}
	switch c.Type {
	case "event_count", "value_count", "value_sum", "value_avg", "value_percentile", "value_median":
		agg := map[string]string{
			"event_count": "count", "value_count": "dc(" + field(c.Field) + ")",
			"value_sum": "sum(" + field(c.Field) + ")", "value_avg": "avg(" + field(c.Field) + ")",
			"value_percentile": fmt.Sprintf("perc%s(%s)", convert.Num(c.Percentile), field(c.Field)),
			"value_median":     "median(" + field(c.Field) + ")",
		}[c.Type]
		name := c.Type
		fmt.Fprintf(&b, "\n| bin _time span=%s\n| stats %s as %s by %s\n\n", span, agg, name, by)
		s, err := cond(name)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	case "temporal":
		fmt.Fprintf(&b, "\n| bin _time span=%s\n| stats dc(event_type) as event_type_count by %s\n\n", span, by)
		if len(c.Condition) == 0 {
			fmt.Fprintf(&b, "| search event_type_count >= %d", len(rules))
		} else {
			s, err := cond("event_type_count")
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		}
	case "temporal_ordered":
		if len(rules) < 2 {
			return "", convert.Unsupported(c.Pos, "splunk", "temporal_ordered correlation of fewer than two rules")
		}
		if len(c.GroupBy) == 0 {
			return "", convert.Unsupported(c.Pos, "splunk", "temporal_ordered correlation without group-by")
		}
		// Sliding window in event order: for each step, the latest start
		// of a chain that reached the previous step within the timespan.
		secs := int64(c.Timespan.Seconds())
		fmt.Fprintf(&b, "| sort 0 _time\n| eval chain_0=if(event_type=%s, _time, null())\n", quote(c.Rules[0]))
		for i := 1; i < len(rules); i++ {
			fmt.Fprintf(&b, "| streamstats time_window=%s max(chain_%d) as prev_%d by %s\n", span, i-1, i, strings.Join(group, " "))
			fmt.Fprintf(&b, "| eval chain_%d=if(event_type=%s AND isnotnull(prev_%d) AND _time-prev_%d<=%d, prev_%d, null())\n", i, quote(c.Rules[i]), i, i, secs, i)
		}
		fmt.Fprintf(&b, "| where isnotnull(chain_%d)", len(rules)-1)
	default:
		return "", convert.Unsupported(c.Pos, "splunk", "correlation type %q", c.Type)
	}
	return noBlankLines(b.String()), nil
}

func sortedKeys(m map[string]map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func aliasField(c *sigma.Correlation, p *convert.Prepared, alias string) string {
	for ref, f := range c.Aliases[alias] {
		if ref == p.Rule.Name || ref == p.Rule.ID {
			return p.MapField(f)
		}
	}
	return ""
}

// mapGroup maps a group-by field through the rules' pipelines (aliases
// keep their name).
func mapGroup(c *sigma.Correlation, rules []*convert.Prepared, g string) string {
	if _, ok := c.Aliases[g]; ok {
		return g
	}
	if len(rules) > 0 {
		return rules[0].MapField(g)
	}
	return g
}
