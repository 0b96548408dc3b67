// Package elastic holds what the Elastic targets (lucene, esql, eql) share:
// the index pattern from pipeline state, and the Kibana detection-rule and
// saved-search documents of their siem_rule and kibana_ndjson formats.
package elastic

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/sigma"
)

// DefaultIndex is the index pattern pySigma gives detection rules.
var DefaultIndex = []string{"apm-*-transaction*", "auditbeat-*", "endgame-*", "filebeat-*", "logs-*", "packetbeat-*", "traces-apm*", "winlogbeat-*", "-*elastic-cloud-logs-*"}

// Index returns the index patterns a pipeline set (set_state key index),
// or nil.
func Index(state map[string]any) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	switch v := state["index"].(type) {
	case string:
		add(v)
	case []any:
		for _, x := range v {
			add(fmt.Sprint(x))
		}
	}
	return out
}

var plainField = regexp.MustCompile(`^[A-Za-z_@][\w.@]*$`)

// Field writes a field name for EQL and ES|QL: as it is when it is a
// plain (dotted) identifier, else quoted in backticks.
func Field(f string) string {
	if plainField.MatchString(f) {
		return f
	}
	return "`" + strings.ReplaceAll(f, "`", "``") + "`"
}

var strEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)

// String writes a string literal for EQL and ES|QL (double quotes,
// backslash escapes).
func String(s string) string { return `"` + strEscaper.Replace(s) + `"` }

var severity = map[string]struct {
	sev  string
	risk int
}{
	"informational": {"low", 21}, "low": {"low", 21}, "medium": {"medium", 47},
	"high": {"high", 73}, "critical": {"critical", 99},
}

// SiemRule returns a Kibana detection rule for a query. ruleType is
// "query", "eql" or "esql"; pretty selects indented JSON (siem_rule) over
// one line (siem_rule_ndjson).
func SiemRule(m sigma.Meta, ruleType, language, query string, index []string, pretty bool) (string, error) {
	sev, ok := severity[strings.ToLower(m.Level)]
	if !ok {
		sev = severity["low"]
	}
	desc := strings.TrimSpace(m.Description)
	if desc == "" {
		desc = "No description"
	}
	if len(index) == 0 {
		index = DefaultIndex
	}
	threat, tags := Threat(m.Tags)
	authors := []string{}
	if m.Author != "" {
		authors = []string{m.Author}
	}
	params := map[string]any{
		"author": authors, "description": desc, "ruleId": m.ID,
		"falsePositives": nonNil(m.FalsePositives), "from": "now-5m", "immutable": false,
		"license": "DRL", "outputIndex": "", "meta": map[string]any{"from": "1m"},
		"maxSignals": 100, "riskScore": sev.risk, "riskScoreMapping": []any{},
		"severity": sev.sev, "severityMapping": []any{}, "threat": threat, "to": "now",
		"references": nonNil(m.References), "version": 1, "exceptionsList": []any{},
		"relatedIntegrations": []any{}, "requiredFields": []any{}, "setup": "",
		"type": ruleType, "language": language, "query": query,
	}
	if ruleType != "esql" {
		// ES|QL rules name their indices in the query and take no filters.
		params["index"] = index
		params["filters"] = []any{}
	}
	ruleTypeID := map[string]string{"query": "siem.queryRule", "eql": "siem.eqlRule", "esql": "siem.esqlRule"}[ruleType]
	doc := map[string]any{
		"name": "SIGMA - " + m.Title, "tags": tags, "consumer": "siem", "enabled": true,
		"throttle": nil, "schedule": map[string]any{"interval": "5m"}, "params": params,
		"rule_type_id": ruleTypeID, "notify_when": "onActiveAlert", "actions": []any{},
	}
	if pretty {
		b, err := json.MarshalIndent(doc, "", "  ")
		return string(b), err
	}
	// siem_rule_ndjson is the detection engine API's flat, snake_case
	// form (one line per rule, for bulk import).
	flat := map[string]any{
		"id": m.ID, "rule_id": m.ID, "name": doc["name"], "tags": doc["tags"], "enabled": true,
		"throttle": "no_actions", "interval": "5m", "actions": []any{},
		"author": authors, "description": desc, "false_positives": nonNil(m.FalsePositives),
		"from": "now-5m", "immutable": false, "license": "DRL", "output_index": "",
		"meta": map[string]any{"from": "1m"}, "max_signals": 100, "risk_score": sev.risk,
		"risk_score_mapping": []any{}, "severity": sev.sev, "severity_mapping": []any{},
		"threat": threat, "to": "now", "references": nonNil(m.References), "version": 1,
		"exceptions_list": []any{}, "related_integrations": []any{}, "required_fields": []any{},
		"setup": "", "type": ruleType, "language": language, "query": query,
	}
	if ruleType != "esql" {
		flat["index"] = index
		flat["filters"] = []any{}
	} else {
		// The ES|QL rule import form (as pySigma writes it).
		flat["note"] = ""
		delete(flat, "throttle")
	}
	b, err := json.Marshal(flat)
	return string(b), err
}

// KibanaSearch returns a Kibana saved search (ndjson line) for a query.
func KibanaSearch(m sigma.Meta, language, query string, index []string) (string, error) {
	idx := "logs-*"
	if len(index) > 0 {
		idx = strings.Join(index, ",")
	}
	src, _ := json.Marshal(map[string]any{"index": idx, "query": map[string]any{"query": query, "language": language}, "filter": []any{}})
	doc := map[string]any{
		"id": m.ID, "type": "search",
		"attributes": map[string]any{
			"title": "SIGMA - " + m.Title, "description": m.Description, "hits": 0, "columns": []any{},
			"sort": []any{}, "version": 1,
			"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": string(src)},
		},
		"references": []any{},
	}
	b, err := json.Marshal(doc)
	return string(b), err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// MaxClauses is Elasticsearch's lowest limit on the clauses of one query
// (indices.query.bool.max_clause_count: 1024 before 8.0, the floor of
// the limit 8.0 computes from the heap and thread pool since).
const MaxClauses = 1024

// Clauses counts the clauses a query tree becomes in Elasticsearch: one
// per comparison (an IN list's values each count).
func Clauses(n convert.Node) int {
	count := 0
	convert.Walk(n, func(*convert.Cond) { count++ })
	return count
}

// CheckClauses implements convert.Checker for the Elastic targets: a rule
// whose query has more clauses than MaxClauses is converted with a
// warning (a cluster with a larger limit runs it; the lowest refuses it).
func CheckClauses(p *convert.Prepared, target string) ([]*convert.Warning, error) {
	if n := Clauses(p.Tree); n > MaxClauses {
		return []*convert.Warning{convert.Unsupported(p.Rule.Pos, target, "the query has %d clauses, more than Elasticsearch's lowest limit of %d (indices.query.bool.max_clause_count): a cluster with that limit refuses it", n, MaxClauses)}, nil
	}
	return nil, nil
}
