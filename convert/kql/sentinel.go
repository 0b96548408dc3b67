package kql

import (
	"crypto/sha1"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-detect/vigil/attack"
	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/sigma"
)

// The sentinel_rule format: a Microsoft Sentinel scheduled analytics rule
// in the YAML form of the Azure-Sentinel repository's Detections/ folder
// (the fields its .script/tests/detectionTemplateSchemaValidation checks:
// id, name, description, severity, requiredDataConnectors,
// queryFrequency, queryPeriod, triggerOperator, triggerThreshold,
// tactics, relevantTechniques, query, entityMappings, version, kind).

// SentinelRule is one scheduled analytics rule, in the repository's field
// order.
type SentinelRule struct {
	ID                     string            `yaml:"id"`
	Name                   string            `yaml:"name"`
	Description            string            `yaml:"description"`
	Severity               string            `yaml:"severity"`
	RequiredDataConnectors []DataConnector   `yaml:"requiredDataConnectors"`
	QueryFrequency         string            `yaml:"queryFrequency"`
	QueryPeriod            string            `yaml:"queryPeriod"`
	TriggerOperator        string            `yaml:"triggerOperator"`
	TriggerThreshold       int               `yaml:"triggerThreshold"`
	Tactics                []string          `yaml:"tactics"`
	RelevantTechniques     []string          `yaml:"relevantTechniques"`
	Query                  string            `yaml:"query"`
	EntityMappings         []EntityMapping   `yaml:"entityMappings,omitempty"`
	Version                string            `yaml:"version"`
	Kind                   string            `yaml:"kind"`
	Tags                   []string          `yaml:"tags,omitempty"`
	Metadata               map[string]string `yaml:"metadata,omitempty"`
}

// DataConnector is an entry of requiredDataConnectors.
type DataConnector struct {
	ConnectorID string   `yaml:"connectorId"`
	DataTypes   []string `yaml:"dataTypes"`
}

// EntityMapping maps query columns to an entity's identifiers.
type EntityMapping struct {
	EntityType    string         `yaml:"entityType"`
	FieldMappings []FieldMapping `yaml:"fieldMappings"`
}

// FieldMapping is one identifier of an entity and its column.
type FieldMapping struct {
	Identifier string `yaml:"identifier"`
	ColumnName string `yaml:"columnName"`
}

// Sentinel's limits (ScheduledTemplateInternalModel).
const (
	sentinelMinPeriod = 5 * time.Minute
	sentinelMaxPeriod = 14 * 24 * time.Hour
	sentinelMaxQuery  = 10000
	// sentinelFrequency is how often vigil's rules run: hourly, each over
	// the last hour (plus a correlation's timespan, so that a sequence
	// that straddles two runs is seen whole by the later one).
	sentinelFrequency = time.Hour
)

// sentinelTactics maps ATT&CK tactic ids (package attack reads Sigma's
// attack.* tactic tags, attack.stealth included) to Sentinel's
// AttackTactic names.
var sentinelTactics = map[string]string{
	"TA0043": "Reconnaissance", "TA0042": "ResourceDevelopment", "TA0001": "InitialAccess",
	"TA0002": "Execution", "TA0003": "Persistence", "TA0004": "PrivilegeEscalation",
	"TA0005": "DefenseEvasion", "TA0006": "CredentialAccess", "TA0007": "Discovery",
	"TA0008": "LateralMovement", "TA0009": "Collection", "TA0010": "Exfiltration",
	"TA0011": "CommandAndControl", "TA0040": "Impact",
}

// techniqueTactics lists, per Sentinel tactic, the ATT&CK Enterprise
// techniques (without sub-technique) that belong to it, as the MITRE
// ATT&CK Enterprise matrix assigns them and as Sentinel's rule validation
// checks them: a rule's relevantTechniques must each be known and have
// every one of their tactics in tactics. vigil writes a technique tag's
// tactics from this table; techniques not in it stay tags.
var techniqueTactics = map[string]string{
	"Reconnaissance":      "T1589 T1590 T1591 T1592 T1593 T1594 T1595 T1596 T1597 T1598",
	"ResourceDevelopment": "T1583 T1584 T1585 T1586 T1587 T1588 T1608",
	"InitialAccess":       "T1078 T1091 T1133 T1189 T1190 T1195 T1199 T1200 T1566",
	"Execution":           "T1047 T1053 T1059 T1072 T1106 T1129 T1203 T1204 T1559 T1569",
	"Persistence":         "T1037 T1053 T1078 T1098 T1133 T1136 T1137 T1176 T1197 T1205 T1505 T1525 T1542 T1543 T1546 T1547 T1554 T1556 T1574",
	"PrivilegeEscalation": "T1037 T1053 T1055 T1068 T1078 T1134 T1484 T1543 T1546 T1547 T1548 T1574 T1611",
	"DefenseEvasion":      "T1006 T1014 T1027 T1036 T1055 T1070 T1078 T1112 T1127 T1134 T1140 T1197 T1202 T1205 T1207 T1211 T1216 T1218 T1220 T1221 T1222 T1480 T1484 T1497 T1535 T1542 T1548 T1550 T1553 T1556 T1562 T1564 T1574 T1578 T1599 T1600 T1601 T1610 T1612",
	"CredentialAccess":    "T1003 T1040 T1056 T1110 T1111 T1187 T1212 T1528 T1539 T1552 T1555 T1556 T1557 T1558 T1606",
	"Discovery":           "T1007 T1010 T1012 T1016 T1018 T1033 T1040 T1046 T1049 T1057 T1069 T1082 T1083 T1087 T1120 T1124 T1135 T1201 T1217 T1482 T1497 T1518 T1526 T1538 T1580",
	"LateralMovement":     "T1021 T1072 T1080 T1091 T1210 T1534 T1550 T1563 T1570",
	"Collection":          "T1005 T1025 T1039 T1056 T1074 T1113 T1114 T1115 T1119 T1123 T1125 T1185 T1213 T1530 T1557 T1560 T1602",
	"Exfiltration":        "T1011 T1020 T1029 T1030 T1041 T1048 T1052 T1537 T1567",
	"CommandAndControl":   "T1001 T1008 T1071 T1090 T1092 T1095 T1102 T1104 T1105 T1132 T1205 T1219 T1568 T1571 T1572 T1573",
	"Impact":              "T1485 T1486 T1489 T1490 T1491 T1495 T1496 T1498 T1499 T1529 T1531 T1561 T1565",
}

// tacticOrder is Sentinel's order of tactics.
var tacticOrder = []string{"Reconnaissance", "ResourceDevelopment", "InitialAccess", "Execution", "Persistence", "PrivilegeEscalation", "DefenseEvasion", "CredentialAccess", "Discovery", "LateralMovement", "Collection", "Exfiltration", "CommandAndControl", "Impact"}

// tacticsOf returns the tactics of a technique (T1234 or T1234.001).
func tacticsOf(tech string) []string {
	base, _, _ := strings.Cut(tech, ".")
	var out []string
	for _, tac := range tacticOrder {
		for _, t := range strings.Fields(techniqueTactics[tac]) {
			if t == base {
				out = append(out, tac)
			}
		}
	}
	return out
}

// sentinelSeverity maps a Sigma level to Sentinel's severities
// (critical has no equivalent above High).
func sentinelSeverity(level string) string {
	switch level {
	case "informational":
		return "Informational"
	case "low":
		return "Low"
	case "high", "critical":
		return "High"
	}
	return "Medium"
}

// connectors names the Sentinel data connector of a table: Defender XDR's
// advanced hunting tables come with MicrosoftThreatProtection,
// SecurityEvent with SecurityEvents; ASIM parsers read many connectors'
// tables and name none.
func connectors(table string) []DataConnector {
	s, ok := TableSchema(table)
	if !ok {
		return []DataConnector{}
	}
	switch s.Database {
	case "microsoft_xdr":
		return []DataConnector{{"MicrosoftThreatProtection", []string{table}}}
	case "azure_monitor":
		return []DataConnector{{"SecurityEvents", []string{table}}}
	}
	return []DataConnector{}
}

// mergeConnectors joins the connectors of several tables.
func mergeConnectors(tables []string) []DataConnector {
	out := []DataConnector{}
	at := map[string]int{}
	for _, t := range tables {
		for _, c := range connectors(t) {
			i, ok := at[c.ConnectorID]
			if !ok {
				at[c.ConnectorID] = len(out)
				out = append(out, DataConnector{c.ConnectorID, nil})
				i = len(out) - 1
			}
			for _, dt := range c.DataTypes {
				has := false
				for _, x := range out[i].DataTypes {
					has = has || x == dt
				}
				if !has {
					out[i].DataTypes = append(out[i].DataTypes, dt)
				}
			}
		}
	}
	return out
}

// entityCandidates are, per entity, the column sets that identify it, in
// order of preference; a rule's entities are the first set whose columns
// its table has.
var entityCandidates = []struct {
	entity string
	ids    [][2]string
}{
	{"Host", [][2]string{{"FullName", "DeviceName"}}},
	{"Host", [][2]string{{"FullName", "Computer"}}},
	{"Host", [][2]string{{"HostName", "DvcHostname"}}},
	{"Account", [][2]string{{"Name", "AccountName"}, {"NTDomain", "AccountDomain"}}},
	{"Account", [][2]string{{"Name", "InitiatingProcessAccountName"}, {"NTDomain", "InitiatingProcessAccountDomain"}}},
	{"Account", [][2]string{{"FullName", "Account"}}},
	{"Account", [][2]string{{"Name", "TargetUsername"}}},
	{"Account", [][2]string{{"Name", "ActorUsername"}}},
	{"Account", [][2]string{{"Name", "SrcUsername"}}},
	{"Process", [][2]string{{"ProcessId", "ProcessId"}, {"CommandLine", "ProcessCommandLine"}}},
	{"Process", [][2]string{{"ProcessId", "InitiatingProcessId"}, {"CommandLine", "InitiatingProcessCommandLine"}}},
	{"Process", [][2]string{{"ProcessId", "NewProcessId"}, {"CommandLine", "CommandLine"}}},
	{"Process", [][2]string{{"ProcessId", "TargetProcessId"}, {"CommandLine", "TargetProcessCommandLine"}}},
	{"Process", [][2]string{{"ProcessId", "ActingProcessId"}, {"CommandLine", "ActingProcessCommandLine"}}},
	{"IP", [][2]string{{"Address", "RemoteIP"}}},
	{"IP", [][2]string{{"Address", "IpAddress"}}},
	{"IP", [][2]string{{"Address", "DstIpAddr"}}},
}

// ruleEntities returns the entity mappings of a rule's query over table.
func ruleEntities(table string) []EntityMapping {
	s, ok := TableSchema(table)
	if !ok {
		return nil
	}
	var out []EntityMapping
	done := map[string]bool{}
	for _, c := range entityCandidates {
		if done[c.entity] {
			continue
		}
		var fms []FieldMapping
		for _, id := range c.ids {
			if _, ok := s.Columns[id[1]]; !ok {
				fms = nil
				break
			}
			fms = append(fms, FieldMapping{id[0], id[1]})
		}
		if fms != nil {
			done[c.entity] = true
			out = append(out, EntityMapping{c.entity, fms})
		}
	}
	return out
}

// keyEntities returns the entity mappings of a correlation's output,
// whose columns are the group-by keys g0, g1, ...: a host column is a
// Host, a process id column a Process.
func keyEntities(keys []string) []EntityMapping {
	var out []EntityMapping
	for k, col := range keys {
		g := fmt.Sprintf("g%d", k)
		switch {
		case col == "DeviceName" || col == "Computer":
			out = append(out, EntityMapping{"Host", []FieldMapping{{"FullName", g}}})
		case col == "DvcHostname":
			out = append(out, EntityMapping{"Host", []FieldMapping{{"HostName", g}}})
		case strings.HasSuffix(col, "ProcessId") || col == "ProcessID":
			out = append(out, EntityMapping{"Process", []FieldMapping{{"ProcessId", g}}})
		}
	}
	return out
}

// sentinelSpan writes a duration as Sentinel's <number><m|h|d>, rounded
// up to whole minutes.
func sentinelSpan(d time.Duration) string {
	m := int64((d + time.Minute - 1) / time.Minute)
	switch {
	case m%(24*60) == 0:
		return fmt.Sprintf("%dd", m/(24*60))
	case m%60 == 0:
		return fmt.Sprintf("%dh", m/60)
	}
	return fmt.Sprintf("%dm", m)
}

// sentinelID returns the rule's id when it is a GUID, or a GUID derived
// from its title and position (SHA-1, in the form of a version 5 UUID)
// so that the same rule always gets the same id.
var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func sentinelID(m *sigma.Meta) string {
	if guid.MatchString(m.ID) {
		return strings.ToLower(m.ID)
	}
	h := sha1.Sum([]byte(m.Pos.File + "\x00" + m.Title + "\x00" + m.ID))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// sentinelRule writes a query as a scheduled analytics rule.
func sentinelRule(m *sigma.Meta, pos sigma.Pos, query string, conns []DataConnector, span time.Duration, ents []EntityMapping) (string, error) {
	if len(query) > sentinelMaxQuery {
		return "", convert.Unsupported(pos, "kql", "format sentinel_rule: the query has %d characters, above Sentinel's limit of %d", len(query), sentinelMaxQuery)
	}
	period := sentinelFrequency + span
	if period > sentinelMaxPeriod {
		return "", convert.Unsupported(pos, "kql", "format sentinel_rule: timespan %v is above Sentinel's longest query period (14d)", span)
	}
	r := SentinelRule{
		ID:                     sentinelID(m),
		Name:                   m.Title,
		Description:            strings.TrimSpace(m.Description),
		Severity:               sentinelSeverity(m.Level),
		RequiredDataConnectors: conns,
		QueryFrequency:         sentinelSpan(sentinelFrequency),
		QueryPeriod:            sentinelSpan(max(period, sentinelMinPeriod)),
		TriggerOperator:        "gt",
		TriggerThreshold:       0,
		Tactics:                []string{},
		RelevantTechniques:     []string{},
		Query:                  query + "\n",
		EntityMappings:         ents,
		Version:                "1.0.0",
		Kind:                   "Scheduled",
	}
	if len(r.Name) > 256 {
		r.Name = r.Name[:256]
	}
	if r.Description == "" {
		r.Description = m.Title
	}
	if len(r.Description) > 5000 {
		r.Description = r.Description[:5000]
	}
	// Tactics from the tactic tags and from the techniques' ATT&CK
	// tactics (Sentinel requires all of them); techniques Sentinel does
	// not know stay tags.
	tac := map[string]bool{}
	seen := map[string]bool{}
	for _, t := range m.Tags {
		t = strings.ToLower(t)
		if name, ok := strings.CutPrefix(t, "attack."); ok {
			if x, ok := attack.TacticOf(strings.ReplaceAll(name, "-", "_")); ok {
				tac[sentinelTactics[x.ID]] = true
				continue
			}
		}
		if id, ok := attack.TechniqueID(t); ok {
			if ts := tacticsOf(id); len(ts) > 0 {
				if !seen[id] {
					seen[id] = true
					r.RelevantTechniques = append(r.RelevantTechniques, id)
				}
				for _, x := range ts {
					tac[x] = true
				}
				continue
			}
		}
		r.Tags = append(r.Tags, t)
	}
	for _, x := range tacticOrder {
		if tac[x] {
			r.Tactics = append(r.Tactics, x)
		}
	}
	if m.Author != "" {
		r.Metadata = map[string]string{"author": m.Author, "source": "Sigma rule converted by vigil"}
	}
	b, err := yaml.Marshal(&r)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Finish implements convert.Finisher: sentinel_rule documents are
// separated by "---".
func (Backend) Finish(qs []convert.Query, format string) (string, bool) {
	if format != "sentinel_rule" {
		return "", false
	}
	var parts []string
	for _, q := range qs {
		parts = append(parts, strings.TrimSuffix(q.Text, "\n"))
	}
	return strings.Join(parts, "\n---\n"), true
}
