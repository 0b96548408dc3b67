package splunk

import (
	"fmt"
	"strings"

	"github.com/vigil-detect/vigil/convert"
)

// DataModel writes a rule as a tstats search over a CIM data model
// (Splunk's data_model output format, as pySigma's Splunk back end writes
// it). The pipeline names the data model (state data_model_set, such as
// Endpoint.Processes) and the fields tstats groups by (state fields);
// splunk_cim sets both.
//
// tstats evaluates its where clause on the data model's summaries; what it
// cannot evaluate there is filtered after it, on the by fields: regular
// expressions (| regex, or rex/eval and | search when nested in boolean
// logic), cased comparisons (CASE() is a search-time directive) and field
// references (| where). Fields those filters read are added to the by
// fields when the pipeline did not list them. Refused: keywords (a data
// model has no raw text) and exists/null (fillnull_value="null" writes a
// missing value as the string null).
func DataModel(p *convert.Prepared) (string, error) {
	dm, _ := p.State["data_model_set"].(string)
	if dm == "" {
		return "", convert.Unsupported(p.Rule.Pos, "splunk", "No data model specified: the data_model format needs a pipeline that sets the state data_model_set (such as splunk_cim)")
	}
	if !plainField.MatchString(dm) {
		return "", convert.Unsupported(p.Rule.Pos, "splunk", "data model %q (state data_model_set): not a plain data model name", dm)
	}
	var err error
	convert.Walk(p.Tree, func(c *convert.Cond) {
		if err != nil {
			return
		}
		switch {
		case c.Field == "":
			err = convert.Unsupported(c.Pos, "splunk", "keyword %q in the data_model format: a data model search (tstats) has no raw event text", c.Pat.Plain())
		case c.Op == convert.OpExists || c.Op == convert.OpNull:
			err = convert.Unsupported(c.Pos, "splunk", "exists/null on %s in the data_model format: tstats writes a missing value as the string \"null\" (fillnull_value), so absence cannot be told apart", c.Field)
		}
	})
	if err != nil {
		return "", err
	}
	var post []convert.Node
	pt, err := split(p, func(n convert.Node) (bool, error) {
		cased := false
		convert.Walk(n, func(c *convert.Cond) { cased = cased || c.Cased && c.Op == convert.OpString })
		if cased {
			post = append(post, n)
		}
		return cased, nil
	})
	if err != nil {
		return "", err
	}
	fields := toList(p.State["fields"])
	have := map[string]bool{}
	for _, f := range fields {
		have[f] = true
	}
	need := func(f string) {
		if f != "" && !have[f] {
			have[f] = true
			fields = append(fields, f)
		}
	}
	for _, n := range convert.Conjuncts(p.Tree) {
		later := hasRegex(n)
		for _, x := range post {
			later = later || x == n
		}
		if c, ok := n.(*convert.Cond); ok && c.Op == convert.OpFieldRef {
			later = true
		}
		if x, ok := n.(*convert.Not); ok {
			if c, ok := x.Arg.(*convert.Cond); ok && (c.Op == convert.OpFieldRef || toRegex(c).Op == convert.OpRegex) {
				later = true
			}
		}
		if later {
			convert.Walk(n, func(c *convert.Cond) {
				need(c.Field)
				if c.Op == convert.OpFieldRef {
					need(c.Ref)
				}
			})
		}
	}
	obj := dm[strings.LastIndex(dm, ".")+1:]
	var b strings.Builder
	fmt.Fprintf(&b, `| tstats summariesonly=false allow_old_summaries=true fillnull_value="null" count min(_time) as firstTime max(_time) as lastTime from datamodel=%s`, dm)
	if len(pt.base) > 0 {
		b.WriteString(" where " + strings.Join(pt.base, " "))
	}
	if len(fields) > 0 {
		by := make([]string, len(fields))
		for i, f := range fields {
			by[i] = field(f)
		}
		b.WriteString(" by " + strings.Join(by, " "))
	}
	pt.writeAfter(&b)
	fmt.Fprintf(&b, "\n| `drop_dm_object_name(%s)`\n| convert timeformat=\"%%Y-%%m-%%dT%%H:%%M:%%S\" ctime(firstTime)\n| convert timeformat=\"%%Y-%%m-%%dT%%H:%%M:%%S\" ctime(lastTime)", obj)
	return b.String(), nil
}

func toList(v any) []string {
	switch v := v.(type) {
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	case []string:
		return append([]string(nil), v...)
	case string:
		return []string{v}
	}
	return nil
}
