package elastic

import (
	"regexp"
	"strings"
)

// The ATT&CK threat block of Elastic detection rules, derived from a
// rule's attack.* tags as pySigma does. vigil embeds no ATT&CK data set:
//
//   - tactics: the 14 Enterprise tactics (fixed), keyed by Sigma's tag
//     name. The name is written as pySigma writes it, the tag's words
//     capitalised ("Command And Control"); attack.stealth and
//     attack.defense_evasion are both TA0005 (ATT&CK v18 calls TA0005
//     Stealth).
//   - techniques: id and reference URL come from the tag; the name from
//     the small table below (techniques common in Windows Sigma rules, as
//     ATT&CK names them). A technique missing from the table is written
//     with its id as its name.
//   - a technique belongs to the tactic whose tag precedes it (Sigma rules
//     write a tactic, then its techniques); techniques before any tactic
//     belong to the first tactic. pySigma assigns them from ATT&CK's
//     technique-to-tactic data instead, which differs when the tags are
//     not written in that order.
//
// The attack.* tags turned into the block are dropped from the rule's
// tags, as pySigma does.

var tactics = map[string]string{
	"reconnaissance": "TA0043", "resource_development": "TA0042", "initial_access": "TA0001",
	"execution": "TA0002", "persistence": "TA0003", "privilege_escalation": "TA0004",
	"defense_evasion": "TA0005", "stealth": "TA0005", "credential_access": "TA0006",
	"discovery": "TA0007", "lateral_movement": "TA0008", "collection": "TA0009",
	"command_and_control": "TA0011", "exfiltration": "TA0010", "impact": "TA0040",
}

var techniqueNames = map[string]string{
	"T1003": "OS Credential Dumping", "T1003.001": "LSASS Memory", "T1007": "System Service Discovery",
	"T1012": "Query Registry", "T1016": "System Network Configuration Discovery",
	"T1018": "Remote System Discovery", "T1021": "Remote Services", "T1021.001": "Remote Desktop Protocol",
	"T1021.002": "SMB/Windows Admin Shares", "T1027": "Obfuscated Files or Information",
	"T1033": "System Owner/User Discovery", "T1036": "Masquerading", "T1041": "Exfiltration Over C2 Channel",
	"T1047": "Windows Management Instrumentation", "T1048": "Exfiltration Over Alternative Protocol",
	"T1049": "System Network Connections Discovery", "T1053": "Scheduled Task/Job", "T1053.005": "Scheduled Task",
	"T1055": "Process Injection", "T1057": "Process Discovery", "T1059": "Command and Scripting Interpreter",
	"T1059.001": "PowerShell", "T1059.003": "Windows Command Shell", "T1059.005": "Visual Basic",
	"T1059.007": "JavaScript", "T1068": "Exploitation for Privilege Escalation", "T1069": "Permission Groups Discovery",
	"T1071": "Application Layer Protocol", "T1071.001": "Web Protocols", "T1071.004": "DNS",
	"T1078": "Valid Accounts", "T1082": "System Information Discovery", "T1083": "File and Directory Discovery",
	"T1087": "Account Discovery", "T1090": "Proxy", "T1095": "Non-Application Layer Protocol",
	"T1098": "Account Manipulation", "T1102": "Web Service", "T1105": "Ingress Tool Transfer",
	"T1110": "Brute Force", "T1112": "Modify Registry", "T1132": "Data Encoding", "T1135": "Network Share Discovery",
	"T1136": "Create Account", "T1140": "Deobfuscate/Decode Files or Information", "T1190": "Exploit Public-Facing Application",
	"T1197": "BITS Jobs", "T1203": "Exploitation for Client Execution", "T1204": "User Execution",
	"T1204.002": "Malicious File", "T1218": "System Binary Proxy Execution", "T1218.005": "Mshta",
	"T1218.010": "Regsvr32", "T1218.011": "Rundll32", "T1486": "Data Encrypted for Impact",
	"T1490": "Inhibit System Recovery", "T1505": "Server Software Component", "T1505.003": "Web Shell",
	"T1518": "Software Discovery", "T1518.001": "Security Software Discovery", "T1543": "Create or Modify System Process",
	"T1543.003": "Windows Service", "T1547": "Boot or Logon Autostart Execution", "T1547.001": "Registry Run Keys / Startup Folder",
	"T1548": "Abuse Elevation Control Mechanism", "T1548.002": "Bypass User Account Control",
	"T1550": "Use Alternate Authentication Material", "T1550.002": "Pass the Hash",
	"T1558": "Steal or Forge Kerberos Tickets", "T1558.003": "Kerberoasting", "T1560": "Archive Collected Data",
	"T1562": "Impair Defenses", "T1562.001": "Disable or Modify Tools", "T1566": "Phishing",
	"T1566.001": "Spearphishing Attachment", "T1566.002": "Spearphishing Link", "T1568": "Dynamic Resolution",
	"T1569": "System Services", "T1569.002": "Service Execution", "T1571": "Non-Standard Port",
	"T1572": "Protocol Tunneling", "T1573": "Encrypted Channel",
}

var techniqueTag = regexp.MustCompile(`^t(\d{4})(?:\.(\d{3}))?$`)

func tacticName(tag string) string {
	ws := strings.Split(tag, "_")
	for i, w := range ws {
		if w != "" {
			ws[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(ws, " ")
}

func techniqueName(id string) string {
	if n, ok := techniqueNames[id]; ok {
		return n
	}
	return id
}

func ref(id string) string {
	return "https://attack.mitre.org/techniques/" + strings.ReplaceAll(id, ".", "/")
}

// Threat returns the threat block for a rule's tags and the tags that
// remain (those not turned into it).
func Threat(tags []string) ([]any, []string) {
	type tech struct {
		id   string
		subs []string
	}
	type tac struct {
		tag   string
		techs []*tech
	}
	var tacs []*tac
	var pending []string // techniques before any tactic
	rest := []string{}
	add := func(t *tac, id string) {
		parent, sub := id, ""
		if i := strings.IndexByte(id, '.'); i >= 0 {
			parent, sub = id[:i], id
		}
		var te *tech
		for _, x := range t.techs {
			if x.id == parent {
				te = x
			}
		}
		if te == nil {
			te = &tech{id: parent}
			t.techs = append(t.techs, te)
		}
		if sub != "" {
			for _, s := range te.subs {
				if s == sub {
					return
				}
			}
			te.subs = append(te.subs, sub)
		}
	}
	for _, tag := range tags {
		l := strings.ToLower(tag)
		if !strings.HasPrefix(l, "attack.") {
			rest = append(rest, tag)
			continue
		}
		name := strings.TrimPrefix(l, "attack.")
		if _, ok := tactics[name]; ok {
			tacs = append(tacs, &tac{tag: name})
			continue
		}
		if m := techniqueTag.FindStringSubmatch(name); m != nil {
			id := "T" + m[1]
			if m[2] != "" {
				id += "." + m[2]
			}
			if len(tacs) == 0 {
				pending = append(pending, id)
			} else {
				add(tacs[len(tacs)-1], id)
			}
			continue
		}
		rest = append(rest, tag) // groups, software, other attack.* tags
	}
	if len(tacs) == 0 {
		// Techniques without a tactic give no threat entry (Kibana
		// requires the tactic); keep their tags.
		return []any{}, nonNil(tags)
	}
	for _, id := range pending {
		add(tacs[0], id)
	}
	threat := []any{}
	for _, t := range tacs {
		id := tactics[t.tag]
		techs := []any{}
		for _, te := range t.techs {
			subs := []any{}
			for _, s := range te.subs {
				subs = append(subs, map[string]any{"id": s, "name": techniqueName(s), "reference": ref(s)})
			}
			techs = append(techs, map[string]any{"id": te.id, "name": techniqueName(te.id), "reference": ref(te.id), "subtechnique": subs})
		}
		threat = append(threat, map[string]any{
			"framework": "MITRE ATT&CK",
			"tactic":    map[string]any{"id": id, "name": tacticName(t.tag), "reference": "https://attack.mitre.org/tactics/" + id},
			"technique": techs,
		})
	}
	return threat, rest
}
