package kql_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/convert/kql"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/sigma"
)

// The scheduled analytics rule schema as the Azure-Sentinel repository's
// .script/tests/detectionTemplateSchemaValidation checks it
// (Models/ScheduledTemplateInternalModel.cs, AnalyticsTemplateInternalModelBase.cs,
// AttackTactic.cs, EntityType.cs, EntityMappingIdentifiers.cs,
// ScheduledTemplateTriggerOperatorConverter.cs,
// ScheduledTemplateTimeSpanConverter.cs, ValidConnectorIds.json; read
// 2026-12 from github.com/Azure/Azure-Sentinel), written out here.
var (
	sentinelRequired = []string{"id", "kind", "name", "description", "severity", "requiredDataConnectors", "query", "queryFrequency", "queryPeriod", "triggerOperator", "triggerThreshold"}
	sentinelKnown    = map[string]bool{"id": true, "kind": true, "name": true, "description": true, "severity": true, "requiredDataConnectors": true, "query": true, "queryFrequency": true, "queryPeriod": true, "triggerOperator": true, "triggerThreshold": true, "tactics": true, "relevantTechniques": true, "entityMappings": true, "customDetails": true, "eventGroupingSettings": true, "alertDetailsOverride": true, "version": true, "tags": true, "metadata": true, "status": true}
	sentinelSeverity = map[string]bool{"Informational": true, "Low": true, "Medium": true, "High": true}
	sentinelKind     = map[string]bool{"Scheduled": true, "NRT": true}
	sentinelTrigger  = map[string]bool{"gt": true, "lt": true, "eq": true, "ne": true, "GreaterThan": true, "LessThan": true, "Equal": true, "NotEqual": true}
	sentinelTactic   = map[string]bool{"InitialAccess": true, "Execution": true, "Persistence": true, "PrivilegeEscalation": true, "DefenseEvasion": true, "CredentialAccess": true, "Discovery": true, "LateralMovement": true, "Collection": true, "Exfiltration": true, "CommandAndControl": true, "Impact": true, "Reconnaissance": true, "ResourceDevelopment": true, "ImpairProcessControl": true, "InhibitResponseFunction": true}
	// A subset of ValidConnectorIds.json: the connectors of the tables
	// vigil's KQL pipelines read.
	sentinelConnectors = map[string]bool{"SecurityEvents": true, "MicrosoftThreatProtection": true, "MicrosoftDefenderAdvancedThreatProtection": true, "WindowsFirewall": true, "DNS": true}
	// EntityMappingIdentifiers.cs: identifiers per entity type, and the
	// identifier sets of which one must be given.
	sentinelEntities = map[string]struct{ ids, required []string }{
		"Account": {[]string{"Name", "FullName", "NTDomain", "DnsDomain", "UPNSuffix", "Sid", "AadTenantId", "AadUserId", "PUID", "IsDomainJoined", "DisplayName", "ObjectGuid"}, []string{"FullName", "Sid", "Name", "AadUserId", "PUID", "ObjectGuid"}},
		"Host":    {[]string{"DnsDomain", "NTDomain", "HostName", "FullName", "NetBiosName", "AzureID", "OMSAgentID", "OSFamily", "OSVersion", "IsDomainJoined"}, []string{"FullName", "HostName", "NetBiosName", "AzureID", "OMSAgentID"}},
		"IP":      {[]string{"Address"}, []string{"Address"}},
		"Process": {[]string{"ProcessId", "CommandLine", "ElevationToken", "CreationTimeUtc"}, []string{"CommandLine", "ProcessId"}},
		"File":    {[]string{"Directory", "Name"}, []string{"Name"}},
		"URL":     {[]string{"Url"}, []string{"Url"}},
	}
	sentinelGUID      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	sentinelSpan      = regexp.MustCompile(`^(\d+)([mhd])$`)
	sentinelTechnique = regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)
	sentinelVersion   = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
)

func span(t *testing.T, s string) time.Duration {
	m := sentinelSpan.FindStringSubmatch(s)
	if m == nil {
		t.Errorf("time span %q is not <number><m|h|d>", s)
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return time.Duration(n) * map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
}

// checkSentinelRule validates one rule document against the schema above;
// columns are the names an entity mapping may use (nil: any).
func checkSentinelRule(t *testing.T, doc string, columns map[string]string) map[string]any {
	t.Helper()
	var r map[string]any
	if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, doc)
	}
	for _, k := range sentinelRequired {
		if _, ok := r[k]; !ok {
			t.Errorf("%v: no %s", r["name"], k)
		}
	}
	for k := range r {
		if !sentinelKnown[k] {
			t.Errorf("%v: unknown field %s", r["name"], k)
		}
	}
	str := func(k string) string { s, _ := r[k].(string); return s }
	if !sentinelGUID.MatchString(str("id")) {
		t.Errorf("id %q is no GUID", str("id"))
	}
	if n := len(str("name")); n == 0 || n > 256 {
		t.Errorf("name length %d", n)
	}
	if n := len(str("description")); n == 0 || n > 5000 {
		t.Errorf("description length %d", n)
	}
	if !sentinelSeverity[str("severity")] || !sentinelKind[str("kind")] || !sentinelTrigger[str("triggerOperator")] || !sentinelVersion.MatchString(str("version")) {
		t.Errorf("%s: severity %q, kind %q, triggerOperator %q, version %q", str("name"), str("severity"), str("kind"), str("triggerOperator"), str("version"))
	}
	if th, ok := r["triggerThreshold"].(int); !ok || th < 0 || th > 10000 {
		t.Errorf("triggerThreshold %v", r["triggerThreshold"])
	}
	freq, period := span(t, str("queryFrequency")), span(t, str("queryPeriod"))
	if freq < 5*time.Minute || period > 14*24*time.Hour || period < freq {
		t.Errorf("queryFrequency %v, queryPeriod %v", freq, period)
	}
	if n := len(str("query")); n == 0 || n > 10000 {
		t.Errorf("query length %d", n)
	}
	conns, _ := r["requiredDataConnectors"].([]any)
	for _, c := range conns {
		m := c.(map[string]any)
		if id, _ := m["connectorId"].(string); !sentinelConnectors[id] {
			t.Errorf("connectorId %q", id)
		}
		if dts, _ := m["dataTypes"].([]any); len(dts) == 0 {
			t.Errorf("connector without dataTypes")
		}
	}
	tactics := map[string]bool{}
	for _, x := range r["tactics"].([]any) {
		if !sentinelTactic[x.(string)] {
			t.Errorf("tactic %q", x)
		}
		tactics[x.(string)] = true
	}
	for _, x := range r["relevantTechniques"].([]any) {
		if !sentinelTechnique.MatchString(x.(string)) {
			t.Errorf("technique %q", x)
		}
	}
	if ems, ok := r["entityMappings"].([]any); ok {
		if len(ems) < 1 || len(ems) > 5 {
			t.Errorf("%d entity mappings", len(ems))
		}
		for _, e := range ems {
			m := e.(map[string]any)
			spec, ok := sentinelEntities[m["entityType"].(string)]
			fms, _ := m["fieldMappings"].([]any)
			if !ok || len(fms) < 1 || len(fms) > 3 {
				t.Errorf("entity %v", m)
				continue
			}
			given := map[string]bool{}
			for _, f := range fms {
				fm := f.(map[string]any)
				id, col := fm["identifier"].(string), fm["columnName"].(string)
				given[id] = true
				if !contains(spec.ids, id) {
					t.Errorf("%s has no identifier %s", m["entityType"], id)
				}
				if columns != nil && columns[col] == "" {
					t.Errorf("%s: entity column %s is not in the query's output", str("name"), col)
				}
			}
			req := false
			for _, id := range spec.required {
				req = req || given[id]
			}
			if !req {
				t.Errorf("%s: %s lacks a required identifier", str("name"), m["entityType"])
			}
		}
	}
	return r
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// TestSentinelRuleAdvisory: the advisory's rules deploy as scheduled
// analytics rules on Defender XDR and on SecurityEvent, with the
// correlation's timespan inside the query period, the ATT&CK tactics
// of its techniques, and host and process entities on the group-by keys.
func TestSentinelRuleAdvisory(t *testing.T) {
	coll, errs := advisory.Rules()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b, _ := convert.Lookup("kql")
	for name, want := range map[string]int{"microsoft_xdr": 4, "azure_monitor": 2} {
		pl, _ := convert.LoadPipeline(name)
		qs, _ := convert.Convert(coll, b, []*convert.Pipeline{pl}, "sentinel_rule")
		if len(qs) != want {
			t.Fatalf("%s: %d rules, want %d", name, len(qs), want)
		}
		out, ok := b.(convert.Finisher).Finish(qs, "sentinel_rule")
		if !ok || strings.Count(out, "\n---\n") != want-1 {
			t.Errorf("%s: documents not separated by ---", name)
		}
		for _, q := range qs {
			g := map[string]string{"g0": "x", "g1": "x", "g2": "x"}
			r := checkSentinelRule(t, q.Text, g)
			if r["id"] != strings.ToLower(q.ID) || r["queryPeriod"] != "61m" || r["severity"] != "Medium" {
				t.Errorf("%s: id %v (rule %s), queryPeriod %v, severity %v", name, r["id"], q.ID, r["queryPeriod"], r["severity"])
			}
			// Every technique's ATT&CK tactics (as Sentinel's
			// KillChainTechniquesHelper has them) are among tactics.
			tac := map[string]bool{}
			for _, x := range r["tactics"].([]any) {
				tac[x.(string)] = true
			}
			for _, x := range r["relevantTechniques"].([]any) {
				need := map[string]string{"T1059": "Execution", "T1566": "InitialAccess", "T1105": "CommandAndControl", "T1071": "CommandAndControl"}[strings.SplitN(x.(string), ".", 2)[0]]
				if need == "" || !tac[need] {
					t.Errorf("%s: technique %v without its tactic %q in %v", name, x, need, tac)
				}
			}
			ents := r["entityMappings"].([]any)
			if !strings.Contains(q.Text, "entityType: Process") {
				t.Errorf("%s: entities %v", name, ents)
			}
		}
	}
}

// TestSentinelRuleSigmaHQ: every SigmaHQ Windows rule microsoft_xdr and
// azure_monitor convert is a valid scheduled analytics rule whose entity
// columns are columns of its table.
func TestSentinelRuleSigmaHQ(t *testing.T) {
	coll, _ := sigma.LoadPaths(corpus.Require(t, "sigma", "rules", "windows"))
	b, _ := convert.Lookup("kql")
	for _, name := range []string{"microsoft_xdr", "azure_monitor", "sentinel_asim"} {
		pl, _ := convert.LoadPipeline(name)
		qs, errs := convert.Convert(coll, b, []*convert.Pipeline{pl}, "sentinel_rule")
		for _, q := range qs {
			if q.Rule == nil {
				continue
			}
			var r map[string]any
			yaml.Unmarshal([]byte(q.Text), &r)
			tbl := strings.SplitN(r["query"].(string), "\n", 2)[0]
			s, ok := kql.TableSchema(tbl)
			if !ok {
				t.Errorf("%s: table %q", q.Title, tbl)
				continue
			}
			checkSentinelRule(t, q.Text, s.Columns)
		}
		t.Logf("%s: %d sentinel rules, %d refused", name, len(qs), len(errs))
	}
}
