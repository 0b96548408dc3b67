// Package attack holds the MITRE ATT&CK tactics and techniques known to
// vigil: the 14 Enterprise tactics with their Sigma tag names, and the
// names of the techniques common in Windows Sigma rules. vigil embeds no
// full ATT&CK data set; this one table serves the Elastic and Sentinel
// rule converters (convert/elastic, convert/kql), the ATT&CK layer (alert)
// and the alert views (web).
package attack

import (
	"regexp"
	"strings"
)

// Tactic is an ATT&CK Enterprise tactic.
type Tactic struct {
	// ID is ATT&CK's id ("TA0011"); Name its ATT&CK name ("Command and
	// Control").
	ID   string `json:"id"`
	Name string `json:"name"`
	// Tags are Sigma's tag names for the tactic, without "attack." and
	// with underscores, the first the usual one ("command_and_control").
	Tags []string `json:"tags"`
}

// tactics in the order of the Enterprise matrix, named as ATT&CK v17
// names them (the version of vigil's Navigator layer). attack.stealth and
// attack.defense_evasion are both TA0005 (ATT&CK v18 calls TA0005
// Stealth).
var tactics = []Tactic{
	{"TA0043", "Reconnaissance", []string{"reconnaissance"}},
	{"TA0042", "Resource Development", []string{"resource_development"}},
	{"TA0001", "Initial Access", []string{"initial_access"}},
	{"TA0002", "Execution", []string{"execution"}},
	{"TA0003", "Persistence", []string{"persistence"}},
	{"TA0004", "Privilege Escalation", []string{"privilege_escalation"}},
	{"TA0005", "Defense Evasion", []string{"defense_evasion", "stealth"}},
	{"TA0006", "Credential Access", []string{"credential_access"}},
	{"TA0007", "Discovery", []string{"discovery"}},
	{"TA0008", "Lateral Movement", []string{"lateral_movement"}},
	{"TA0009", "Collection", []string{"collection"}},
	{"TA0011", "Command and Control", []string{"command_and_control"}},
	{"TA0010", "Exfiltration", []string{"exfiltration"}},
	{"TA0040", "Impact", []string{"impact"}},
}

// techniques names the techniques and sub-techniques common in Windows
// Sigma rules, as ATT&CK names them (a sub-technique by its own name).
var techniques = map[string]string{
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

// Tactics returns the tactics in the order of the Enterprise matrix.
func Tactics() []Tactic {
	out := make([]Tactic, len(tactics))
	for i, t := range tactics {
		t.Tags = append([]string(nil), t.Tags...)
		out[i] = t
	}
	return out
}

// TacticOf returns the tactic of a Sigma tactic tag name, without
// "attack." and lower-case as the table writes it ("execution",
// "command_and_control", "stealth").
func TacticOf(tag string) (Tactic, bool) {
	for _, t := range tactics {
		for _, n := range t.Tags {
			if n == tag {
				return t, true
			}
		}
	}
	return Tactic{}, false
}

// TechniqueName returns ATT&CK's name of a technique or sub-technique id
// ("T1059.003": "Windows Command Shell"), or "" when the table lacks it.
func TechniqueName(id string) string {
	return techniques[id]
}

// Techniques returns the technique names by id.
func Techniques() map[string]string {
	out := make(map[string]string, len(techniques))
	for id, n := range techniques {
		out[id] = n
	}
	return out
}

var techniqueTag = regexp.MustCompile(`^attack\.t(\d{4})(\.\d{3})?$`)

// TechniqueID returns the technique id of a Sigma technique tag, in any
// case ("attack.t1059.003": "T1059.003"), and false for other tags.
func TechniqueID(tag string) (string, bool) {
	m := techniqueTag.FindStringSubmatch(strings.ToLower(tag))
	if m == nil {
		return "", false
	}
	return "T" + m[1] + m[2], true
}

// TechniqueURL returns the attack.mitre.org page of a technique id
// ("T1059.003": https://attack.mitre.org/techniques/T1059/003).
func TechniqueURL(id string) string {
	return "https://attack.mitre.org/techniques/" + strings.ReplaceAll(id, ".", "/")
}

// TacticURL returns the attack.mitre.org page of a tactic id.
func TacticURL(id string) string {
	return "https://attack.mitre.org/tactics/" + id
}
