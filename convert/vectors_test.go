package convert_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/convert"
	_ "github.com/vigil-detect/vigil/convert/eql"
	_ "github.com/vigil-detect/vigil/convert/esql"
	_ "github.com/vigil-detect/vigil/convert/lucene"
	_ "github.com/vigil-detect/vigil/convert/splunk"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/sigma"
)

type vector struct {
	ID            string   `json:"id"`
	Backend       string   `json:"backend"`
	Format        string   `json:"output_format"`
	Pipeline      *string  `json:"pipeline"`
	PipelineYAML  string   `json:"pipeline_yaml"`
	Options       any      `json:"options"`
	Rule          string   `json:"rule"`
	Expected      []any    `json:"expected"`
	Match         string   `json:"match"`
	ExpectedError string   `json:"expected_error"`
	Checks        []vcheck `json:"checks"`
}

type vcheck struct {
	Index       int    `json:"index"`
	Contains    string `json:"contains"`
	NotContains string `json:"not_contains"`
	StartsWith  string `json:"startswith"`
}

var targetOf = map[string]string{
	"splunk": "splunk", "elasticsearch-lucene": "lucene", "elasticsearch-esql": "esql", "elasticsearch-eql": "eql",
}

var pipelineOf = map[string]string{
	"splunk_windows_pipeline": "splunk_windows", "ecs_windows": "ecs_windows",
	"splunk_cim_data_model": "splunk_cim",
}

// A difference is a form vigil writes on purpose where pySigma writes
// another; norm rewrites both outputs so that, if the difference is only
// the one explained, they become equal (the test checks it: a vector whose
// outputs still differ after norm is reported as DIFFERS).
type difference struct {
	reason string
	norm   func(string) string
}

var (
	// Sigma compares case-insensitively; ES|QL's ==, LIKE, starts_with
	// are case-sensitive: vigil folds the field with to_lower and writes
	// the value in lower case. pySigma compares case-sensitively.
	esqlFold = difference{"ES|QL: vigil folds case (to_lower(field) and a lower-case value) because Sigma matching is case-insensitive and ES|QL comparisons are not; pySigma compares case-sensitively", func(s string) string {
		return strings.ToLower(unwrapCalls(s, "to_lower("))
	}}
	// vigil writes AND groups inside OR with parentheses.
	esqlFoldParens = difference{esqlFold.reason + "; and vigil parenthesises AND groups inside OR (same precedence)", func(s string) string {
		return strings.NewReplacer("(", "", ")", "").Replace(esqlFold.norm(s))
	}}
	regexSemantics = difference{"regular expression: Sigma's re is an unanchored, case-sensitive search; pySigma writes the expression as anchored (Lucene/EQL/ES|QL regexps match whole values) or case-insensitive (regex~), vigil adds the implied .* and keeps case", nil}
	windashEvery   = difference{"windash: vigil's dash class covers every dash of the value (the engine's and the Sigma specification's semantics), pySigma only a leading one", nil}
	nullParens     = difference{"null: vigil parenthesises the field test; same query", func(s string) string { return strings.NewReplacer("(", "", ")", "").Replace(s) }}
	splunkFieldref = difference{"fieldref: vigil compares lower(a)=lower(b), since Sigma compares case-insensitively; pySigma compares with case", func(s string) string {
		return unwrapCalls(s, "lower(")
	}}
	ecsFlatten       = difference{"ecs_windows: vigil flattens the added channel condition into the AND chain; same query", func(s string) string { return strings.NewReplacer("(", "", ")", "").Replace(s) }}
	esqlPipelineFold = difference{esqlFold.reason + "; pySigma's ecs_windows also maps Initiated to network.direction with a value mapping, which vigil's ecs_windows (field names only) does not", nil}
	eqlRuleType      = difference{"siem_rule: vigil writes rule_type_id siem.eqlRule for an EQL rule (params.type eql), as Kibana requires; pySigma writes siem.queryRule", func(s string) string { return strings.ReplaceAll(s, "siem.eqlRule", "siem.queryRule") }}
	kibanaSearch     = difference{"kibana_ndjson: vigil writes the saved search as Kibana 7.10+/8 imports it (searchSourceJSON {query: {query, language: lucene}, filter}, index logs-*, the rule's id); pySigma writes the legacy query_string form with highlight settings, index beats-* and the id \"None\"", nil}
	// pySigma's ES|QL back end keeps the attack tags it turned into the
	// threat block, with '-' for '.'; its Lucene and EQL back ends drop
	// them, as vigil does in every target.
	esqlThreatTags = difference{esqlFold.reason + "; and pySigma's ES|QL back end keeps the attack.* tags it turned into the threat block (written attack-execution), where its Lucene and EQL back ends and vigil drop them", func(s string) string {
		return esqlFold.norm(regexp.MustCompile(`"tags":\[[^\]]*\]`).ReplaceAllString(s, `"tags":[]`))
	}}
	dmNestedRegex = difference{"data_model: pySigma writes the whole condition, including the rex/eval result processCondition=\"true\", into tstats' where clause, where processCondition does not exist yet (regex-only matches are lost); vigil keeps only the conjuncts tstats can evaluate in where and applies the nested regex condition with | search after tstats", nil}
	eqlKeywords   = difference{"keywords: EQL has no full-text search, and pySigma's (\"keywordA\" or \"keywordB\") is a string literal used as a condition, not valid EQL; vigil refuses the rule", nil}
)

// differences lists, per vector (test function name), the documented
// difference that explains it.
var differences = map[string]difference{
	"test_elasticsearch_esql_and_expression":                        esqlFold,
	"test_elasticsearch_esql_or_expression":                         esqlFold,
	"test_elasticsearch_esql_and_or_expression":                     esqlFold,
	"test_elasticsearch_esql_or_and_expression":                     esqlFoldParens,
	"test_elasticsearch_esql_in_expression":                         esqlFold,
	"test_elasticsearch_esql_wildcard_expressions":                  esqlFold,
	"test_elasticsearch_esql_field_name_with_whitespace":            esqlFold,
	"test_elasticsearch_esql_set_state_index_string":                esqlFold,
	"test_elasticsearch_esql_set_state_index_list":                  esqlFold,
	"test_elasticsearch_esql_set_state_index_list_correlation_rule": esqlFold,
	"test_elasticsearch_esql_set_state_index_list_single":           esqlFold,
	"test_elasticsearch_esql_set_state_index_list_deduplicate":      esqlFold,
	"test_elasticsearch_esql_set_state_index_list_wildcard":         esqlFold,
	"test_elasticsearch_esql_siemrule":                              esqlFold,
	"test_elasticsearch_esql_siemrule_ndjson":                       esqlFold,
	"test_elasticsearch_esql_siemrule_ndjson_with_threat":           esqlThreatTags,
	"test_event_count_correlation_rule_stats_query":                 esqlFold,
	"test_event_count_correlation_rule_stats_query_no_group_field":  esqlFold,
	"test_event_count_correlation_fields_exclude_groupby":           esqlFold,
	"test_event_count_correlation_no_fields_no_values":              esqlFold,
	"test_event_count_correlation_with_fields_in_correlation_rule":  esqlFold,
	"test_event_count_correlation_with_fields_in_referenced_rule":   esqlFold,
	"test_value_count_correlation_rule_stats_query":                 esqlFold,
	"test_value_count_correlation_with_fields":                      esqlFold,
	"test_temporal_correlation_rule_stats_query":                    esqlFoldParens,
	"test_temporal_correlation_rule_set_state_index":                esqlFoldParens,
	"test_temporal_correlation_with_fields":                         esqlFoldParens,
	"test_ecs_values_to_str":                                        esqlFold,
	"test_ecs_network_direction_str_egress":                         esqlPipelineFold,
	"test_ecs_network_direction_str_ingress":                        esqlPipelineFold,
	"test_elasticsearch_esql_regex_query":                           regexSemantics,
	"test_eql_regex_query":                                          regexSemantics,
	"test_eql_regex_query_escaped_input":                            regexSemantics,
	"test_lucene_regex_query":                                       regexSemantics,
	"test_lucene_regex_query_escaped_input":                         regexSemantics,
	"test_splunk_regex_query_implicit_or":                           regexSemantics,
	"test_elasticsearch_eql_windash":                                windashEvery,
	"test_elasticsearch_eql_windash_contains":                       windashEvery,
	"test_lucene_windash":                                           windashEvery,
	"test_lucene_windash_contains":                                  windashEvery,
	"test_eql_not_filter_null_and":                                  nullParens,
	"test_eql_not_filter_null_or":                                   nullParens,
	"test_lucene_not_filter_null_and":                               nullParens,
	"test_lucene_not_filter_null_or":                                nullParens,
	"test_splunk_fieldref_query":                                    splunkFieldref,
	"test_ecs_windows":                                              ecsFlatten,
	"test_elasticsearch_siemrule_eql":                               eqlRuleType,
	"test_elasticsearch_siemrule_eql_with_threatmodel":              eqlRuleType,
	"test_elasticsearch_ndjson_lucene":                              kibanaSearch,
	"test_eql_keyword_quotes":                                       eqlKeywords,
	"test_splunk_data_model_process_creation_with_or_regex":         dmNestedRegex,
	"test_eql_keyword_quotes_eqlapi":                                eqlKeywords,
}

// unwrapCalls removes the calls fn...( ) around their argument, keeping
// the argument: unwrapCalls("to_lower(a)==b", "to_lower(") is "a==b".
func unwrapCalls(s, fn string) string {
	for {
		i := strings.Index(s, fn)
		if i < 0 {
			return s
		}
		depth, j := 1, i+len(fn)
		for ; j < len(s) && depth > 0; j++ {
			switch s[j] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		if depth != 0 {
			return s
		}
		s = s[:i] + s[i+len(fn):j-1] + s[j:]
	}
}

func normWS(s string) string { return strings.Join(strings.Fields(s), " ") }

type tally struct{ match, equiv, refused, differ, errOK, na int }

func TestVectors(t *testing.T) {
	dir := corpus.Require(t, "convert-vectors")
	counts := map[string]*tally{}
	var notes []string
	for _, file := range []string{"splunk.json", "elasticsearch.json"} {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		var vs []vector
		if err := json.Unmarshal(data, &vs); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			key := v.Backend + "/" + v.Format
			if counts[key] == nil {
				counts[key] = &tally{}
			}
			tl := counts[key]
			res, reason := runVector(t, v)
			switch res {
			case "match":
				tl.match++
			case "equiv":
				tl.equiv++
				notes = append(notes, fmt.Sprintf("equivalent %s: %s", v.ID, reason))
			case "refused":
				tl.refused++
				notes = append(notes, fmt.Sprintf("refused %s: %s", v.ID, reason))
			case "differ":
				tl.differ++
				notes = append(notes, fmt.Sprintf("DIFFERS %s: %s", v.ID, reason))
			case "errok":
				tl.errOK++
			case "na":
				tl.na++
			}
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	perTarget := map[string]*tally{}
	t.Logf("%-36s %5s %5s %5s %5s %5s %5s", "backend/format", "match", "docd", "errOK", "refus", "differ", "n/a")
	for _, k := range keys {
		c := counts[k]
		t.Logf("%-36s %5d %5d %5d %5d %5d %5d", k, c.match, c.equiv, c.errOK, c.refused, c.differ, c.na)
		tg := targetOf[strings.Split(k, "/")[0]]
		if tg == "" {
			continue
		}
		if perTarget[tg] == nil {
			perTarget[tg] = &tally{}
		}
		p := perTarget[tg]
		p.match += c.match
		p.equiv += c.equiv
		p.errOK += c.errOK
		p.refused += c.refused
		p.differ += c.differ
		p.na += c.na
	}
	for _, n := range notes {
		if testing.Verbose() || strings.HasPrefix(n, "DIFFERS") {
			t.Log(n)
		}
	}
	for _, tg := range []string{"splunk", "lucene", "esql", "eql"} {
		p := perTarget[tg]
		if p == nil {
			continue
		}
		in := p.match + p.equiv + p.errOK + p.refused + p.differ
		ok := p.match + p.equiv + p.errOK
		t.Logf("target %s: %d/%d match, expected error or documented difference (%.0f%%), %d not applicable", tg, ok, in, 100*float64(ok)/float64(in), p.na)
	}
}

func runVector(t *testing.T, v vector) (string, string) {
	target := targetOf[v.Backend]
	if target == "" {
		return "na", "not a vigil target"
	}
	b, ok := convert.Lookup(target)
	if !ok {
		return "na", "target not built"
	}
	if _, err := convert.CheckFormat(b, v.Format); err != nil {
		return "na", err.Error()
	}
	if m, ok := v.Options.(map[string]any); ok && len(m) > 0 {
		return "na", "back-end options"
	}
	var pipes []*convert.Pipeline
	if v.Pipeline != nil {
		for _, name := range strings.Split(*v.Pipeline, "+") {
			if name == "inline" {
				p, err := convert.ParsePipeline("inline", []byte(v.PipelineYAML))
				if err != nil {
					return "na", "pipeline: " + err.Error()
				}
				pipes = append(pipes, p)
				continue
			}
			n := pipelineOf[name]
			if n == "" {
				return "na", "pipeline " + name
			}
			p, err := convert.LoadPipeline(n)
			if err != nil {
				t.Fatal(err)
			}
			pipes = append(pipes, p)
		}
	}
	f, perrs := sigma.Parse("vector.yml", []byte(v.Rule))
	coll := &sigma.Collection{Rules: f.Rules, Correlations: f.Correlations, Filters: f.Filters}
	qs, errs := convert.Convert(coll, b, pipes, v.Format)
	var got []string
	if fin, ok := b.(convert.Finisher); ok {
		if s, ok := fin.Finish(qs, v.Format); ok {
			got = []string{s}
		}
	}
	if got == nil {
		for _, q := range qs {
			got = append(got, q.Text)
		}
	}
	allErrs := append([]error(nil), perrs...)
	allErrs = append(allErrs, errs...)
	if v.ExpectedError != "" {
		if len(allErrs) > 0 {
			return "errok", ""
		}
		return "differ", fmt.Sprintf("expected error %s, got %q", v.ExpectedError, got)
	}
	if len(allErrs) > 0 {
		if d, ok := differences[vectorName(v.ID)]; ok && d.norm == nil {
			return "equiv", d.reason + ": " + allErrs[0].Error()
		}
		return "refused", allErrs[0].Error()
	}
	if len(v.Checks) > 0 {
		for _, c := range v.Checks {
			if c.Index >= len(got) {
				return "differ", "no output"
			}
			g := got[c.Index]
			if c.StartsWith != "" && !strings.HasPrefix(g, c.StartsWith) || c.Contains != "" && !strings.Contains(g, c.Contains) || c.NotContains != "" && strings.Contains(g, c.NotContains) {
				return "differ", fmt.Sprintf("check %+v failed on %q", c, g)
			}
		}
		return "match", ""
	}
	exp := make([]string, len(v.Expected))
	for i, e := range v.Expected {
		switch e := e.(type) {
		case string:
			exp[i] = e
		default:
			bs, _ := json.Marshal(e)
			exp[i] = string(bs)
		}
	}
	if v.Match == "first" && len(got) > 0 && len(exp) > 0 {
		got, exp = got[:1], exp[:1]
	}
	if equalOut(got, exp) {
		return "match", ""
	}
	if d, ok := differences[vectorName(v.ID)]; ok {
		if d.norm == nil || equalOut(mapAll(canonical(got), d.norm), mapAll(canonical(exp), d.norm)) {
			return "equiv", fmt.Sprintf("%s\n\tgot:  %q\n\twant: %q", d.reason, got, exp)
		}
		return "differ", fmt.Sprintf("documented as %q, but the outputs differ in more than that\n\tgot:  %q\n\twant: %q", d.reason, got, exp)
	}
	return "differ", fmt.Sprintf("\n\tgot:  %q\n\twant: %q", got, exp)
}

func equalOut(got, exp []string) bool {
	if len(got) != len(exp) {
		return false
	}
	for i := range got {
		var a, b any
		if json.Unmarshal([]byte(got[i]), &a) == nil && json.Unmarshal([]byte(exp[i]), &b) == nil {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) == string(jb) {
				continue
			}
			return false
		}
		if normWS(got[i]) != normWS(exp[i]) {
			return false
		}
	}
	return true
}

func vectorName(id string) string {
	if i := strings.LastIndex(id, "::"); i >= 0 {
		return id[i+2:]
	}
	return id
}

func mapAll(ss []string, f func(string) string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// canonical re-marshals JSON outputs compactly with sorted keys, so that
// a normalisation compares values, not layout.
func canonical(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		var x any
		if json.Unmarshal([]byte(s), &x) == nil {
			b, _ := json.Marshal(x)
			out[i] = string(b)
			continue
		}
		out[i] = s
	}
	return out
}
