// Package kql writes Sigma rules as Kusto (KQL) queries for Microsoft
// Sentinel and Defender XDR (target "kql"), or, with format
// sentinel_rule, as Sentinel scheduled analytics rules. The table comes
// from the pipeline (microsoft_xdr, sentinel_asim, azure_monitor: state
// query_table); the columns and types of those tables are embedded
// (schemas.json), and every field a query would name is checked against
// them (Check). Correlations become summarize (counts) and joins
// (temporal_ordered).
package kql

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/sigma"
)

func init() { convert.Register(Backend{}) }

// Backend is the KQL target.
type Backend struct{}

// Name implements convert.Backend.
func (Backend) Name() string { return "kql" }

// Formats implements convert.Backend.
func (Backend) Formats() []string { return []string{"default", "sentinel_rule"} }

// writer writes conditions against one table's column types (types
// nil: unknown table, every column taken as a string, as written).
type writer struct{ types map[string]string }

// col returns how a condition reads a column: as itself where the
// column's type suits the comparison (want: "string" or "number"), or
// converted (tostring of a number, bool or dynamic column; todouble of a
// string one for ranges).
func (w writer) col(name, want string) string {
	f := field(name)
	ty, known := w.types[name]
	if !known {
		return f
	}
	switch want {
	case "string":
		if ty != "string" {
			return "tostring(" + f + ")"
		}
	case "number":
		if !isNumeric(ty) {
			return "todouble(" + f + ")"
		}
	}
	return f
}

func (w writer) cond(c *convert.Cond) (string, error) {
	if c.Field == "" {
		return "", convert.Unsupported(c.Pos, "kql", "keyword search %q: not converted (KQL's search operator has other matching rules)", c.Pat.Plain())
	}
	ty, known := w.types[c.Field]
	f := field(c.Field)
	cs := ""
	if c.Cased {
		cs = "_cs"
	}
	switch c.Op {
	case convert.OpString:
		shape, lit := c.Pat.Shape()
		if shape == convert.ShapeExact && known {
			// A value of the column's type: numbers (0x hex
			// converted) on number columns, true/false on bools.
			switch {
			case isNumeric(ty):
				if n, ok := parseNum(lit, ty); ok {
					return f + " == " + n, nil
				}
				return "", convert.Unsupported(c.Pos, "kql", "%s is a number column: value %q is not a number", c.Field, lit)
			case ty == "bool":
				if b, ok := parseBool(lit); ok {
					return f + " == " + b, nil
				}
				return "", convert.Unsupported(c.Pos, "kql", "%s is a bool column: value %q is not true or false", c.Field, lit)
			}
		}
		if shape == convert.ShapeAny {
			return "isnotnull(" + f + ")", nil
		}
		f = w.col(c.Field, "string")
		switch shape {
		case convert.ShapeExact:
			if c.Cased {
				return f + " == " + str(lit), nil
			}
			return f + " =~ " + str(lit), nil
		case convert.ShapePrefix:
			return f + " startswith" + cs + " " + str(lit), nil
		case convert.ShapeSuffix:
			return f + " endswith" + cs + " " + str(lit), nil
		case convert.ShapeContains:
			return f + " contains" + cs + " " + str(lit), nil
		}
		return f + " matches regex " + str(convert.PatternRegex(c.Pat, c.Cased)), nil
	case convert.OpNumber:
		if known && !isNumeric(ty) {
			// A number on a string column compares as its text.
			if ty == "bool" {
				if b, ok := parseBool(c.Text); ok {
					return f + " == " + b, nil
				}
			}
			return w.col(c.Field, "string") + " == " + str(c.Text), nil
		}
		if n, ok := parseNum(c.Text, ty); ok {
			return f + " == " + n, nil
		}
		return f + " == " + convert.Num(c.Num), nil
	case convert.OpCIDR:
		f = w.col(c.Field, "string")
		if c.Prefix.Addr().Is4() {
			return "ipv4_is_in_range(" + f + ", " + str(c.CIDR) + ")", nil
		}
		return "ipv6_is_in_range(" + f + ", " + str(c.CIDR) + ")", nil
	case convert.OpExists:
		if c.Exists {
			return "isnotempty(" + f + ")", nil
		}
		return "isempty(" + f + ")", nil
	case convert.OpNull:
		return "isempty(" + f + ")", nil
	case convert.OpLT, convert.OpLTE, convert.OpGT, convert.OpGTE:
		return w.col(c.Field, "number") + " " + convert.RangeSymbol(c.Op) + " " + convert.Num(c.Num), nil
	case convert.OpRegex:
		// Kusto uses RE2, vigil's regular expression syntax.
		return w.col(c.Field, "string") + " matches regex " + str(c.Regex), nil
	case convert.OpFieldRef:
		a, r := w.col(c.Field, "string"), w.col(c.Ref, "string")
		if !c.Cased {
			a, r = "tolower("+a+")", "tolower("+r+")"
		}
		switch c.RefAnchor {
		case convert.StartsWith:
			return "indexof(" + a + ", " + r + ") == 0", nil
		case convert.EndsWith:
			return "substring(" + a + ", strlen(" + a + ") - strlen(" + r + ")) == " + r, nil
		case convert.Contains:
			return "indexof(" + a + ", " + r + ") >= 0", nil
		}
		return a + " == " + r, nil
	}
	return "", convert.Unsupported(c.Pos, "kql", "comparison %v", c.Op)
}

// maxRun is the most operands one and/or run is written with: longer
// runs are grouped into parenthesised runs of at most maxRun, so that the
// syntax tree Kusto builds (a binary operator per and/or) stays shallow
// (Kusto's analyser stops at depth 500; SigmaHQ has rules with a thousand
// alternatives).
const maxRun = 32

// balance groups long and/or runs (maxRun).
func (w writer) balance(n convert.Node) convert.Node {
	group := func(args []convert.Node, mk func([]convert.Node) convert.Node) []convert.Node {
		out := make([]convert.Node, len(args))
		for i, a := range args {
			out[i] = w.balance(a)
		}
		for len(out) > maxRun {
			var next []convert.Node
			size := (len(out) + maxRun - 1) / maxRun
			if size < 2 {
				size = 2
			}
			for i := 0; i < len(out); i += size {
				j := min(i+size, len(out))
				if j-i == 1 {
					next = append(next, out[i])
				} else {
					next = append(next, mk(out[i:j]))
				}
			}
			out = next
		}
		return out
	}
	switch n := n.(type) {
	case *convert.And:
		return &convert.And{Args: group(n.Args, func(a []convert.Node) convert.Node { return &convert.And{Args: a} })}
	case *convert.Or:
		if f, _, ok := convert.SameFieldValues(n, false); ok && (w.types == nil || w.types[f] == "string") {
			return n // written as one in~ list
		}
		return &convert.Or{Args: group(n.Args, func(a []convert.Node) convert.Node { return &convert.Or{Args: a} })}
	case *convert.Not:
		return &convert.Not{Arg: w.balance(n.Arg)}
	}
	return n
}

func (w writer) syntax() *convert.Syntax {
	return &convert.Syntax{
		Target: "kql", Cond: w.cond, Node: w.inList, And: " and ", Or: " or ",
		Not: func(_ convert.Node, s string) string { return "not(" + s + ")" },
	}
}

// inList writes an Or comparing one string column with strings as "in~".
func (w writer) inList(n convert.Node) (string, bool, error) {
	f, cs, ok := convert.SameFieldList(n, false)
	if !ok {
		return "", false, nil
	}
	if ty, known := w.types[f]; known && ty != "string" {
		return "", false, nil
	}
	var vs []string
	for _, c := range cs {
		if c.Op == convert.OpNumber {
			return "", false, nil
		}
		vs = append(vs, str(c.Pat.Plain()))
	}
	return field(f) + " in~ (" + strings.Join(vs, ", ") + ")", true, nil
}

// Expr writes a query tree as a KQL predicate.
// Columns are taken as strings.
func Expr(n convert.Node) (string, error) { return writer{}.syntax().Expr(writer{}.balance(n)) }

func table(p *convert.Prepared) (string, error) {
	if t, ok := p.State["query_table"].(string); ok && t != "" {
		return field(t), nil
	}
	return "", convert.Unsupported(p.Rule.Pos, "kql", "no table for log source %s/%s/%s: give a pipeline that names one (microsoft_xdr, sentinel_asim, azure_monitor) or set_state query_table", p.LogSource.Product, p.LogSource.Category, p.LogSource.Service)
}

// DefaultPipelines implements convert.DefaultPipeliner: as pySigma's KQL
// back end, the target applies microsoft_xdr (Defender XDR advanced
// hunting tables) when no pipeline is given, since a KQL query needs a
// table.
func (Backend) DefaultPipelines() []string { return []string{"microsoft_xdr"} }

func timeField(p *convert.Prepared) string {
	if t, ok := p.State["time_field"].(string); ok && t != "" {
		return field(t)
	}
	return "TimeGenerated"
}

// query returns a rule's tabular expression: its table and the where
// clause of its predicate. Fields the pipeline reads from SecurityEvent's
// EventData XML (eventdata_fields) are extracted first, after a where of
// the conditions on real columns (so that only those rows are parsed);
// extra names columns the caller projects (correlation keys).
func query(p *convert.Prepared, extra ...string) (string, error) {
	t, err := table(p)
	if err != nil {
		return "", err
	}
	tree, err := hexIDs(p)
	if err != nil {
		return "", err
	}
	var w writer
	sc, known := TableSchema(t)
	if known {
		w.types = map[string]string{}
		for k, v := range sc.Columns {
			w.types[k] = v
		}
	}
	ed := eventDataFields(p)
	used := map[string]bool{}
	needs := func(n convert.Node) bool {
		any := false
		convert.Walk(n, func(c *convert.Cond) {
			for _, f := range []string{c.Field, c.Ref} {
				if ed[f] && known && sc.Columns[f] == "" {
					used[f], any = true, true
				}
			}
		})
		return any
	}
	var pre, post []convert.Node
	for _, n := range convert.Conjuncts(tree) {
		if needs(n) {
			post = append(post, n)
		} else {
			pre = append(pre, n)
		}
	}
	for _, f := range extra {
		if ed[f] && known && sc.Columns[f] == "" {
			used[f] = true
		}
	}
	var b strings.Builder
	b.WriteString(t)
	if len(pre) > 0 {
		s, err := w.syntax().Expr(w.balance(andOf(pre)))
		if err != nil {
			return "", err
		}
		b.WriteString("\n| where " + s)
	}
	if len(used) > 0 {
		var names []string
		for f := range used {
			names = append(names, f)
			w.types[f] = "string"
		}
		sort.Strings(names)
		// As Sentinel's content reads SecurityEvent's EventData: the
		// named Data elements of parse_xml(EventData), as strings (an
		// event with one Data element parses to an object, not an
		// array).
		b.WriteString("\n| extend _Data = parse_xml(EventData).EventData.Data")
		b.WriteString("\n| mv-apply _d = iff(gettype(_Data) == \"array\", _Data, pack_array(_Data)) to typeof(dynamic) on (summarize _EventData = make_bag(bag_pack(tostring(_d['@Name']), tostring(_d['#text']))))")
		var ext []string
		for _, f := range names {
			ext = append(ext, field(f)+" = tostring(_EventData["+str(f)+"])")
		}
		b.WriteString("\n| extend " + strings.Join(ext, ", "))
		b.WriteString("\n| project-away _Data, _EventData")
	}
	if len(post) > 0 {
		s, err := w.syntax().Expr(w.balance(andOf(post)))
		if err != nil {
			return "", err
		}
		b.WriteString("\n| where " + s)
	}
	return b.String(), nil
}

func andOf(ns []convert.Node) convert.Node {
	if len(ns) == 1 {
		return ns[0]
	}
	return &convert.And{Args: ns}
}

// eventDataFields returns the fields a pipeline reads from
// SecurityEvent's EventData XML (state eventdata_fields).
func eventDataFields(p *convert.Prepared) map[string]bool {
	out := map[string]bool{}
	switch v := p.State["eventdata_fields"].(type) {
	case []any:
		for _, x := range v {
			out[fmt.Sprint(x)] = true
		}
	case string:
		out[v] = true
	}
	return out
}

// Rule implements convert.Backend.
func (Backend) Rule(p *convert.Prepared, format string) (string, error) {
	q, err := query(p)
	if err != nil || format != "sentinel_rule" {
		return q, err
	}
	t, _ := table(p)
	return sentinelRule(&p.Rule.Meta, p.Rule.Pos, q, connectors(t), 0, ruleEntities(t))
}

// hexFields returns the columns a pipeline lists in the state
// hex_fields (a list or one name).
func hexFields(p *convert.Prepared) map[string]bool {
	hex := map[string]bool{}
	switch v := p.State["hex_fields"].(type) {
	case []any:
		for _, x := range v {
			hex[fmt.Sprint(x)] = true
		}
	case string:
		hex[v] = true
	}
	return hex
}

func isHex(p *convert.Prepared, col string) bool { return hexFields(p)[col] }

// hexIDs rewrites number comparisons on the fields a pipeline lists in
// the state hex_fields (azure_monitor: SecurityEvent's NewProcessId and
// ProcessId, which hold the process id as a hex string such as 0x1a2c)
// into comparisons with that string, case-insensitive. Ranges on them
// are refused: a string column has no numeric order.
func hexIDs(p *convert.Prepared) (convert.Node, error) {
	hex := hexFields(p)
	if len(hex) == 0 {
		return p.Tree, nil
	}
	return convert.Rewrite(p.Tree, func(c *convert.Cond) (convert.Node, error) {
		if !hex[c.Field] {
			return c, nil
		}
		switch c.Op {
		case convert.OpNumber:
			if c.Num < 0 || c.Num != float64(int64(c.Num)) {
				return c, nil
			}
			x := *c
			x.Op, x.Pat = convert.OpString, convert.Pattern{{Kind: convert.Lit, Lit: fmt.Sprintf("0x%x", int64(c.Num))}}
			return &x, nil
		case convert.OpLT, convert.OpLTE, convert.OpGT, convert.OpGTE:
			return nil, convert.Unsupported(c.Pos, "kql", "range comparison on %s: the column holds the process id as a hex string", c.Field)
		}
		return c, nil
	})
}

// Correlation implements convert.Backend.
func (Backend) Correlation(c *sigma.Correlation, rules []*convert.Prepared, format string) (string, error) {
	var b strings.Builder
	n, unit := convert.Span(c.Timespan)
	span := fmt.Sprintf("%d%s", n, unit)
	// Each rule projects the columns of every group-by field (its alias,
	// mapped; several columns where the pipeline gives a composite key,
	// such as DeviceId + ProcessId + ProcessCreationTime for a process
	// GUID in Defender XDR) as g0, g1, ...
	width := -1
	// A process id held as a hex string (SecurityEvent's 4688
	// NewProcessId, 0x1a2c) joins one held in decimal (5156's ProcessID)
	// when the decimal one is written in the same form.
	keys := make([][]string, len(rules))
	anyHex := map[int]bool{}
	for i, p := range rules {
		for _, g := range c.GroupBy {
			for _, col := range convert.CorrKey(c, p, g) {
				if err := checkColumn(p, c.Pos, "group-by "+g, col); err != nil {
					return "", err
				}
				if isHex(p, col) {
					anyHex[len(keys[i])] = true
				}
				keys[i] = append(keys[i], col)
			}
		}
		if width >= 0 && len(keys[i]) != width {
			return "", convert.Unsupported(c.Pos, "kql", "group-by %s is identified by %d columns in rule %q and by %d in another rule's table; the pipelines must give every rule the same key", strings.Join(c.GroupBy, ", "), len(keys[i]), c.Rules[i], width)
		}
		width = len(keys[i])
	}
	for i, p := range rules {
		if err := checkColumn(p, c.Pos, "time", timeField(p)); err != nil {
			return "", err
		}
		extra := append([]string(nil), keys[i]...)
		if c.Field != "" {
			if err := checkColumn(p, c.Pos, "field "+c.Field, p.MapField(c.Field)); err != nil {
				return "", err
			}
			extra = append(extra, p.MapField(c.Field))
		}
		q, err := query(p, extra...)
		if err != nil {
			return "", err
		}
		var proj []string
		for k, col := range keys[i] {
			v := field(col)
			switch {
			case anyHex[k] && isHex(p, col):
				v = "tolower(" + v + ")"
			case anyHex[k]:
				v = `strcat("0x", tohex(tolong(` + v + `)))`
			}
			proj = append(proj, fmt.Sprintf("g%d=%s", k, v))
		}
		proj = append(proj, fmt.Sprintf("t=%s", timeField(p)))
		if c.Field != "" {
			proj = append(proj, "v="+field(p.MapField(c.Field)))
		}
		fmt.Fprintf(&b, "let r%d = %s\n| project event_type=%s, %s;\n", i, q, str(c.Rules[i]), strings.Join(proj, ", "))
	}
	var gs []string
	for k := 0; k < width; k++ {
		gs = append(gs, fmt.Sprintf("g%d", k))
	}
	cond := func(name string) string {
		parts := convert.CountConditions(c, name, "==")
		if len(parts) == 0 {
			parts = []string{fmt.Sprintf("%s >= %d", name, len(rules))}
		}
		return strings.Join(parts, " and ")
	}
	var all []string
	for i := range rules {
		all = append(all, fmt.Sprintf("r%d", i))
	}
	union := "union " + strings.Join(all, ", ")
	by := strings.Join(append([]string{"bin(t, " + span + ")"}, gs...), ", ")
	switch c.Type {
	case "event_count", "value_count", "value_sum", "value_avg", "value_median", "value_percentile", "temporal":
		agg := map[string]string{"event_count": "count()", "value_count": "dcount(v)", "value_sum": "sum(v)", "value_avg": "avg(v)",
			"value_median": "percentile(v, 50)", "value_percentile": fmt.Sprintf("percentile(v, %s)", convert.Num(c.Percentile)), "temporal": "dcount(event_type)"}[c.Type]
		name := c.Type
		if c.Type == "temporal" {
			name = "event_type_count"
		}
		fmt.Fprintf(&b, "%s\n| summarize %s=%s by %s\n| where %s", union, name, agg, by, cond(name))
	case "temporal_ordered":
		if len(c.GroupBy) == 0 {
			return "", convert.Unsupported(c.Pos, "kql", "temporal_ordered correlation without group-by")
		}
		// Each step joins the previous one on the group and keeps the
		// chains that stay in order and within the timespan of the first
		// event.
		fmt.Fprintf(&b, "r0 | project %s, t0=t", strings.Join(gs, ", "))
		for i := 1; i < len(rules); i++ {
			fmt.Fprintf(&b, "\n| join kind=inner (r%d | project %s, t%d=t) on %s\n| where t%d >= t%d and t%d - t0 <= %s\n| project-away %s", i, strings.Join(gs, ", "), i, strings.Join(gs, ", "), i, i-1, i, span, strings.Join(suffixed(gs, "1"), ", "))
		}
	default:
		return "", convert.Unsupported(c.Pos, "kql", "correlation type %q", c.Type)
	}
	if format == "sentinel_rule" {
		var tables []string
		for _, p := range rules {
			t, _ := table(p)
			tables = append(tables, t)
		}
		return sentinelRule(&c.Meta, c.Pos, b.String(), mergeConnectors(tables), c.Timespan, keyEntities(keys[0]))
	}
	return b.String(), nil
}

func suffixed(gs []string, s string) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g + s
	}
	return out
}
