package advisory_test

import (
	"fmt"
	"strings"
	"testing"
)

// crossShape takes the process start from one log and the connection from
// another, as on hosts that log process creation with Sysmon and
// connections through the Windows Filtering Platform (5156), or the
// reverse.
func crossShape(starts, conns shape) shape {
	return shape{name: starts.name + " start, " + conns.name + " connection", start: starts.start, conn: conns.conn}
}

// TestCrossLogScenarios runs every scenario of the issue (positives,
// negatives: after 15 s, another process, the same id on another host,
// the connection before the start, special destinations, several
// connections, newest first, separate files) with the start and the
// connection in different logs, for both of the advisory's rules.
func TestCrossLogScenarios(t *testing.T) {
	r := newRig(t)
	for _, s := range []shape{
		crossShape(sysmonEvtxDump, securityFlat),
		crossShape(securityFlat, sysmonEvtxDump),
		crossShape(securityEvtxDump, sysmonEvtxDump),
		crossShape(sysmonEvtxDump, securityEvtxDump),
		crossShape(ecsWinlogbeat, securityFlat),
		crossShape(securityFlat, ecsWinlogbeat),
	} {
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

// TestProcessIdReuse: Windows reuses a process id, often within seconds.
// A connection belongs to the latest process started with its id before
// it: a start of another program with the same id between the cmd.exe
// start and the connection takes the connection away from cmd.exe,
// whichever logs show the starts and the connection.
func TestProcessIdReuse(t *testing.T) {
	r := newRig(t)
	bat := `cmd.exe /c "C:\Users\jdoe\AppData\Local\Temp\upd.bat"`
	cmdProc := proc{host1, "{3f0c9a51-f8a4-65e5-2a07-000000002c00}", 6700}
	// the later, unrelated process that got the same id
	notepad := proc{host1, "{3f0c9a51-f8b0-65e5-2c07-000000002c00}", 6700}
	other := proc{host1, "{3f0c9a51-f8b0-65e5-2c07-000000002c00}", 7044}
	const np = `C:\Windows\System32\notepad.exe`
	cases := []struct {
		name  string
		lines []string
		want  int
	}{
		{"4688 cmd, 4688 notepad reuses the id, Sysmon 3 with notepad's GUID", []string{
			securityFlat.start(0, cmdProc, cmdExe, bat, word),
			securityFlat.start(3, notepad, np, np, `C:\Windows\explorer.exe`),
			sysmonEvtxDump.conn(4, notepad, cmdExe, "185.199.110.153")}, 0},
		{"4688 cmd, 4688 notepad reuses the id, 5156", []string{
			securityFlat.start(0, cmdProc, cmdExe, bat, word),
			securityFlat.start(3, notepad, np, np, `C:\Windows\explorer.exe`),
			securityFlat.conn(4, notepad, cmdExe, "185.199.110.153")}, 0},
		{"Sysmon 1 cmd, Sysmon 1 notepad reuses the id, 5156", []string{
			sysmonEvtxDump.start(0, cmdProc, cmdExe, bat, word),
			sysmonEvtxDump.start(3, notepad, np, np, `C:\Windows\explorer.exe`),
			securityFlat.conn(4, notepad, cmdExe, "185.199.110.153")}, 0},
		{"Sysmon 1 cmd, 4688 notepad reuses the id, 5156", []string{
			sysmonEvtxDump.start(0, cmdProc, cmdExe, bat, word),
			securityFlat.start(3, notepad, np, np, `C:\Windows\explorer.exe`),
			securityFlat.conn(4, notepad, cmdExe, "185.199.110.153")}, 0},
		{"4688 cmd, Sysmon 1 notepad reuses the id, Sysmon 3 of cmd's id without a start of its GUID", []string{
			securityFlat.start(0, cmdProc, cmdExe, bat, word),
			sysmonEvtxDump.start(3, notepad, np, np, `C:\Windows\explorer.exe`),
			sysmonEvtxDump.conn(4, cmdProc, cmdExe, "185.199.110.153")}, 0},
		{"reuse in another file, newest first", []string{
			sysmonEvtxDump.conn(4, notepad, cmdExe, "185.199.110.153"),
			securityFlat.start(3, notepad, np, np, `C:\Windows\explorer.exe`),
			securityFlat.start(0, cmdProc, cmdExe, bat, word)}, 0},
		{"another id started in between: no reuse", []string{
			securityFlat.start(0, cmdProc, cmdExe, bat, word),
			securityFlat.start(3, other, np, np, `C:\Windows\explorer.exe`),
			sysmonEvtxDump.conn(4, cmdProc, cmdExe, "185.199.110.153")}, 1},
		{"the id reused after the connection", []string{
			securityFlat.start(0, cmdProc, cmdExe, bat, word),
			sysmonEvtxDump.conn(2, cmdProc, cmdExe, "185.199.110.153"),
			securityFlat.start(3, notepad, np, np, `C:\Windows\explorer.exe`),
			securityFlat.conn(4, notepad, cmdExe, "185.199.110.153")}, 1},
		{"reused by another cmd.exe without a script: neither alerts", []string{
			securityFlat.start(0, cmdProc, cmdExe, bat, word),
			securityFlat.start(3, notepad, cmdExe, `cmd.exe /c dir`, `C:\Windows\explorer.exe`),
			sysmonEvtxDump.conn(4, notepad, cmdExe, "185.199.110.153")}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := [][]string{c.lines}
			if strings.Contains(c.name, "another file") {
				files = [][]string{c.lines[:1], c.lines[1:]}
			}
			n, _ := r.run(t, files...)
			if n[script] != c.want || n[office] != c.want {
				t.Errorf("script %d office %d, want %d each", n[script], n[office], c.want)
			}
		})
	}
}

// TestBothLogsBothEvents: the process start in Sysmon 1 and 4688, its
// connection in Sysmon 3 and 5156: one alert per rule, listing the four
// events with their logs, in any file order.
func TestBothLogsBothEvents(t *testing.T) {
	r := newRig(t)
	p := proc{host1, "{3f0c9a51-f8a4-65e5-2a07-000000002c00}", 6700}
	bat := `cmd.exe /c "C:\Users\jdoe\AppData\Local\Temp\upd.bat"`
	s1 := sysmonEvtxDump.start(0, p, cmdExe, bat, word)
	s4688 := securityFlat.start(0.003, p, cmdExe, bat, word)
	s3 := sysmonEvtxDump.conn(2.4, p, cmdExe, "185.199.110.153")
	s5156 := securityFlat.conn(2.402, p, cmdExe, "185.199.110.153")
	for _, files := range [][][]string{
		{{s1, s4688, s3, s5156}},
		{{s5156, s3, s4688, s1}},
		{{s4688, s5156}, {s1, s3}},
		{{s3}, {s4688}, {s5156}, {s1}},
	} {
		n, alerts := r.run(t, files...)
		if n[script] != 1 || n[office] != 1 {
			t.Errorf("%d files: script %d office %d, want 1 each", len(files), n[script], n[office])
		}
		for _, a := range alerts {
			var got []string
			for _, e := range a.Events {
				ch, _ := e.Fields["Channel"].(string)
				if ch == "" {
					ch, _ = e.Fields["Event.System.Channel"].(string)
				}
				id := e.Fields["EventID"]
				if id == nil {
					id = e.Fields["Event.System.EventID"]
				}
				if e.Source.Path == "" || e.Source.Line == 0 {
					t.Errorf("event without its source: %+v", e.Source)
				}
				got = append(got, strings.SplitN(ch, "-", 2)[0]+" "+fmt.Sprint(id))
			}
			want := "Microsoft 1,Security 4688,Microsoft 3,Security 5156"
			if strings.Join(got, ",") != want {
				t.Errorf("%d files: %s: events %v, want %s", len(files), a.Rule.Title, got, want)
			}
			checkAlert(t, securityFlat, a.Advisory, a.Group, a.Context, len(a.Events))
		}
	}
}
