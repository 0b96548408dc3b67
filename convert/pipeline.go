package convert

import (
	"embed"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-detect/vigil/sigma"
)

// A Pipeline is a processing pipeline in pySigma's YAML format: an ordered
// list of transformations applied to each rule before a back end writes
// it. The supported transformation types are field_name_mapping,
// field_name_prefix, add_condition, change_logsource,
// drop_detection_item, set_state, rule_failure, detection_item_failure,
// convert_type and map_string; their rule_conditions may test the log source
// and their field_name_conditions may be include_fields, exclude_fields
// or processing_item_applied.
type Pipeline struct {
	Name            string           `yaml:"name"`
	Priority        int              `yaml:"priority"`
	Transformations []Transformation `yaml:"transformations"`
	// Source is where the pipeline was read from.
	Source string `yaml:"-"`
}

// Transformation is one item of a pipeline.
type Transformation struct {
	ID       string         `yaml:"id"`
	Type     string         `yaml:"type"`
	Mapping  map[string]any `yaml:"mapping"`
	Prefix   string         `yaml:"prefix"`
	Conds    map[string]any `yaml:"conditions"`
	Category *string        `yaml:"category"`
	Product  *string        `yaml:"product"`
	Service  *string        `yaml:"service"`
	Key      string         `yaml:"key"`
	Val      any            `yaml:"val"`
	Message  string         `yaml:"message"`
	// TargetType is convert_type's type: str or num.
	TargetType string `yaml:"target_type"`

	RuleConditions      []PipeCondition `yaml:"rule_conditions"`
	RuleCondLinking     string          `yaml:"rule_cond_op"`
	RuleCondNot         bool            `yaml:"rule_cond_not"`
	FieldNameConditions []PipeCondition `yaml:"field_name_conditions"`
	FieldNameCondOp     string          `yaml:"field_name_cond_op"`
	FieldNameCondNot    bool            `yaml:"field_name_cond_not"`
}

// PipeCondition is a rule or field-name condition of a transformation.
type PipeCondition struct {
	Type     string `yaml:"type"`
	Category string `yaml:"category"`
	Product  string `yaml:"product"`
	Service  string `yaml:"service"`
	Fields   any    `yaml:"fields"`
	Mode     string `yaml:"type_"`
	ItemID   string `yaml:"processing_item_id"`
}

//go:embed pipelines/*.yml
var builtinFS embed.FS

// aliases maps pySigma's other names for built-in pipelines.
var aliases = map[string]string{
	"microsoft_365_defender":  "microsoft_xdr",
	"splunk_windows_pipeline": "splunk_windows",
	"splunk_cim_data_model":   "splunk_cim",
	"ecs_windows_old":         "",
	"windows_audit":           "windows_audit",
	"sysmon_pipeline":         "sysmon",
}

// PipelineNames lists the built-in pipelines.
func PipelineNames() []string {
	ents, _ := builtinFS.ReadDir("pipelines")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yml"))
	}
	sort.Strings(out)
	return out
}

// LoadPipeline returns the built-in pipeline called name (or one of
// pySigma's aliases of it), or reads a pipeline YAML file.
func LoadPipeline(name string) (*Pipeline, error) {
	n := name
	if a, ok := aliases[n]; ok && a != "" {
		n = a
	}
	if data, err := builtinFS.ReadFile("pipelines/" + n + ".yml"); err == nil {
		return ParsePipeline("builtin:"+n, data)
	}
	data, err := sigma.ReadFileLimit(name, sigma.MaxFileSize)
	if err != nil {
		if os.IsNotExist(err) && !strings.ContainsAny(name, `/\.`) {
			return nil, fmt.Errorf("unknown pipeline %q (built-in pipelines: %s)", name, strings.Join(PipelineNames(), ", "))
		}
		return nil, fmt.Errorf("pipeline %s: %w", name, err)
	}
	return ParsePipeline(name, data)
}

var knownTransformations = map[string]bool{
	"field_name_mapping": true, "field_name_prefix": true, "add_condition": true,
	"change_logsource": true, "drop_detection_item": true, "set_state": true,
	"rule_failure": true, "detection_item_failure": true, "convert_type": true,
	"map_string": true,
}

// ParsePipeline parses a pipeline in pySigma's YAML format.
func ParsePipeline(source string, data []byte) (*Pipeline, error) {
	var p Pipeline
	if err := yaml.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", source, err)
	}
	p.Source = source
	for i, t := range p.Transformations {
		if !knownTransformations[t.Type] {
			return nil, fmt.Errorf("pipeline %s: transformation %d (%s): type %q is not supported by vigil convert (supported: field_name_mapping, field_name_prefix, add_condition, change_logsource, drop_detection_item, set_state, rule_failure, detection_item_failure, convert_type, map_string)", source, i+1, t.ID, t.Type)
		}
		if t.Type == "convert_type" && t.TargetType != "str" && t.TargetType != "num" {
			return nil, fmt.Errorf("pipeline %s: transformation %d (%s): convert_type target_type must be str or num, not %q", source, i+1, t.ID, t.TargetType)
		}
		for _, c := range t.RuleConditions {
			if c.Type != "logsource" {
				return nil, fmt.Errorf("pipeline %s: transformation %d (%s): rule condition type %q is not supported (only logsource)", source, i+1, t.ID, c.Type)
			}
		}
		for _, c := range t.FieldNameConditions {
			switch c.Type {
			case "include_fields", "exclude_fields", "processing_item_applied":
			default:
				return nil, fmt.Errorf("pipeline %s: transformation %d (%s): field name condition type %q is not supported", source, i+1, t.ID, c.Type)
			}
		}
	}
	return &p, nil
}

// Prepared is a rule after its pipelines: the query tree with field names
// mapped and conditions added, the log source, and the pipeline state
// (such as "index" or "query_table").
type Prepared struct {
	Rule      *sigma.Rule
	Tree      Node
	LogSource sigma.LogSource
	State     map[string]any
	// Fields are the rule's fields (output fields), mapped.
	Fields []string
	// FieldMap records the mapping of the rule's field names.
	FieldMap map[string][]string
	// Warnings are what the back end's Checker left out of Tree.
	Warnings []*Warning
}

type prepState struct {
	applied map[*Cond]map[string]bool
	// refApplied records the transformations applied to a field
	// reference's other field (Cond.Ref), which a mapping may map
	// when it leaves Field alone, or the reverse.
	refApplied map[*Cond]map[string]bool
}

// Prepare resolves a rule's detection (and the filters that name it) and
// applies the pipelines in priority order.
func Prepare(r *sigma.Rule, filters []*sigma.Filter, pipes []*Pipeline) (*Prepared, error) {
	tree, err := detectionTree(&r.Detection)
	if err != nil {
		return nil, err
	}
	for _, f := range filters {
		if !filterApplies(f, r) {
			continue
		}
		ft, err := detectionTree(&f.Detection)
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", f.Title, err)
		}
		tree = simplify(&And{[]Node{tree, ft}})
	}
	p := &Prepared{Rule: r, Tree: tree, LogSource: r.LogSource, State: map[string]any{}, Fields: append([]string(nil), r.Fields...), FieldMap: map[string][]string{}}
	st := &prepState{applied: map[*Cond]map[string]bool{}, refApplied: map[*Cond]map[string]bool{}}
	sorted := append([]*Pipeline(nil), pipes...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Priority < sorted[j].Priority })
	for _, pl := range sorted {
		for i := range pl.Transformations {
			if err := p.apply(pl, &pl.Transformations[i], st); err != nil {
				return nil, err
			}
		}
	}
	if p.Tree == nil {
		return nil, errorf(r.Pos, "the pipelines dropped every detection item of the rule")
	}
	p.Tree = simplify(p.Tree)
	return p, nil
}

func filterApplies(f *sigma.Filter, r *sigma.Rule) bool {
	for _, name := range f.Rules {
		if name != "" && (name == r.ID || name == r.Name) {
			return true
		}
	}
	return false
}

func (p *Prepared) ruleMatches(t *Transformation) bool {
	if len(t.RuleConditions) == 0 {
		return true
	}
	and := strings.EqualFold(t.RuleCondLinking, "and") || t.RuleCondLinking == ""
	oks := make([]bool, len(t.RuleConditions))
	for i, c := range t.RuleConditions {
		oks[i] = (c.Category == "" || strings.EqualFold(c.Category, p.LogSource.Category)) &&
			(c.Product == "" || strings.EqualFold(c.Product, p.LogSource.Product)) &&
			(c.Service == "" || strings.EqualFold(c.Service, p.LogSource.Service))
	}
	return link(oks, and, t.RuleCondNot)
}

// link combines the results of a transformation's conditions: all of
// them (and) or any, negated when not.
func link(oks []bool, and, not bool) bool {
	res := and
	for _, ok := range oks {
		if and {
			res = res && ok
		} else {
			res = res || ok
		}
	}
	return res != not
}

func toStrings(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

func (t *Transformation) fieldMatches(field string, applied map[string]bool) bool {
	if len(t.FieldNameConditions) == 0 {
		return true
	}
	and := !strings.EqualFold(t.FieldNameCondOp, "or")
	oks := make([]bool, len(t.FieldNameConditions))
	for i, c := range t.FieldNameConditions {
		var ok bool
		switch c.Type {
		case "include_fields", "exclude_fields":
			for _, f := range toStrings(c.Fields) {
				if c.Mode == "re" {
					if m, err := regexp.MatchString("^(?:"+f+")$", field); err == nil && m {
						ok = true
					}
				} else if f == field {
					ok = true
				}
			}
			if c.Type == "exclude_fields" {
				ok = !ok
			}
		case "processing_item_applied":
			ok = applied[c.ItemID]
		}
		oks[i] = ok
	}
	return link(oks, and, t.FieldNameCondNot)
}

func (p *Prepared) apply(pl *Pipeline, t *Transformation, st *prepState) error {
	if !p.ruleMatches(t) {
		return nil
	}
	pos := p.Rule.Pos
	mark := func(c *Cond) {
		if t.ID == "" {
			return
		}
		if st.applied[c] == nil {
			st.applied[c] = map[string]bool{}
		}
		st.applied[c][t.ID] = true
	}
	var err error
	switch t.Type {
	case "rule_failure":
		return errorf(pos, "pipeline %s: %s", pl.Name, t.Message)
	case "set_state":
		p.State[t.Key] = t.Val
	case "change_logsource":
		if t.Category != nil {
			p.LogSource.Category = *t.Category
		}
		if t.Product != nil {
			p.LogSource.Product = *t.Product
		}
		if t.Service != nil {
			p.LogSource.Service = *t.Service
		}
	case "add_condition":
		keys := make([]string, 0, len(t.Conds))
		for k := range t.Conds {
			keys = append(keys, k)
		}
		// pySigma keeps the YAML order; maps lose it, so sort for
		// stable output.
		sort.Strings(keys)
		var args []Node
		for _, k := range keys {
			var alts []Node
			for _, v := range toStrings(t.Conds[k]) {
				c := &Cond{Field: k, Orig: k, Op: OpString, Pat: parsePattern(v), Pos: pos}
				if isInt(v) {
					c.Op, c.Text = OpNumber, v
					fmt.Sscan(v, &c.Num)
				}
				mark(c)
				alts = append(alts, c)
			}
			args = append(args, orOf(alts))
		}
		if len(args) > 0 {
			p.Tree = &And{append(args, p.Tree)}
		}
	case "map_string":
		// pySigma's MapStringTransformation: a plain string value
		// (no wildcards) the mapping names becomes its replacement
		// (several: any of them), compared case-insensitively as
		// Sigma compares values.
		p.Tree, err = Rewrite(p.Tree, func(c *Cond) (Node, error) {
			if c.Field == "" || c.Op != OpString || !t.fieldMatches(c.Field, st.applied[c]) {
				return c, nil
			}
			shape, lit := c.Pat.Shape()
			if shape != ShapeExact {
				return c, nil
			}
			for k, v := range t.Mapping {
				if !strings.EqualFold(k, lit) {
					continue
				}
				var alts []Node
				for _, to := range toStrings(v) {
					x := *c
					x.Pat = Pattern{{Kind: Lit, Lit: to}}
					nc := &x
					st.applied[nc] = st.applied[c]
					mark(nc)
					alts = append(alts, nc)
				}
				if len(alts) > 0 {
					return orOf(alts), nil
				}
			}
			return c, nil
		})
	case "convert_type":
		// pySigma's ConvertTypeTransformation: numbers become strings
		// (str) for keyword fields such as ECS event.code, or literal
		// numeric strings become numbers (num).
		p.Tree, err = Rewrite(p.Tree, func(c *Cond) (Node, error) {
			if c.Field == "" || !t.fieldMatches(c.Field, st.applied[c]) {
				return c, nil
			}
			switch {
			case t.TargetType == "str" && c.Op == OpNumber:
				c.Op, c.Pat = OpString, Pattern{{Kind: Lit, Lit: c.Text}}
				mark(c)
			case t.TargetType == "num" && c.Op == OpString:
				if shape, lit := c.Pat.Shape(); shape == ShapeExact {
					if f, perr := strconv.ParseFloat(lit, 64); perr == nil {
						c.Op, c.Num, c.Text = OpNumber, f, lit
						mark(c)
					}
				}
			}
			return c, nil
		})
	case "field_name_mapping", "field_name_prefix", "drop_detection_item", "detection_item_failure":
		p.Tree, err = Rewrite(p.Tree, func(c *Cond) (Node, error) {
			if c.Field == "" && t.Type != "detection_item_failure" {
				return c, nil
			}
			if t.Type == "field_name_prefix" && c.Op == OpFieldRef {
				// The referenced field is prefixed by its own
				// conditions (a mapping may have named one and not
				// the other).
				if t.fieldMatches(c.Ref, st.refApplied[c]) {
					c.Ref = t.Prefix + c.Ref
				}
				if t.fieldMatches(c.Field, st.applied[c]) {
					c.Field = t.Prefix + c.Field
					mark(c)
				}
				return c, nil
			}
			if !t.fieldMatches(c.Field, st.applied[c]) {
				return c, nil
			}
			switch t.Type {
			case "drop_detection_item":
				return nil, nil
			case "detection_item_failure":
				name := c.Field
				if name == "" {
					name = "(keyword)"
				}
				return nil, errorf(c.Pos, "pipeline %s: field %q: %s", pl.Name, name, t.Message)
			case "field_name_prefix":
				c.Field = t.Prefix + c.Field
				mark(c)
				return c, nil
			}
			mappedRef := false
			if c.Op == OpFieldRef {
				if refs := toStrings(t.Mapping[c.Ref]); len(refs) == 1 {
					c.Ref, mappedRef = refs[0], true
				} else if len(refs) > 1 {
					return nil, errorf(c.Pos, "pipeline %s maps field %q to several fields; a field reference cannot use them", pl.Name, c.Ref)
				}
			}
			targets := toStrings(t.Mapping[c.Field])
			if len(targets) == 0 {
				if mappedRef && t.ID != "" {
					if st.refApplied[c] == nil {
						st.refApplied[c] = map[string]bool{}
					}
					st.refApplied[c][t.ID] = true
				}
				return c, nil
			}
			var alts []Node
			for _, f := range targets {
				x := *c
				x.Field = f
				nc := &x
				st.applied[nc] = map[string]bool{}
				for k := range st.applied[c] {
					st.applied[nc][k] = true
				}
				st.refApplied[nc] = map[string]bool{}
				for k := range st.refApplied[c] {
					st.refApplied[nc][k] = true
				}
				if mappedRef && t.ID != "" {
					st.refApplied[nc][t.ID] = true
				}
				mark(nc)
				alts = append(alts, nc)
			}
			return orOf(alts), nil
		})
		if t.Type == "field_name_mapping" {
			for i, f := range p.Fields {
				if to := toStrings(t.Mapping[f]); len(to) > 0 {
					p.Fields[i] = to[0]
				}
			}
			for k, v := range t.Mapping {
				p.FieldMap[k] = toStrings(v)
			}
		}
	}
	return err
}

func isInt(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// MapField returns the name a pipeline gives a rule's field (for
// correlation group-by fields), or the field itself.
func (p *Prepared) MapField(f string) string {
	if to := p.FieldMap[f]; len(to) > 0 {
		return to[0]
	}
	return f
}
