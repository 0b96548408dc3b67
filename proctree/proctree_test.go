package proctree_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/proctree"
)

var t0 = time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// ev is an input event: its seconds after t0, its host and fields.
type ev struct {
	sec    int
	host   string
	fields map[string]any
}

func sysmonStart(sec int, guid, parent, image, cmd string) ev {
	return ev{sec, "WS1", map[string]any{"EventID": float64(1), "ProcessGuid": guid, "ParentProcessGuid": parent,
		"Image": image, "CommandLine": cmd, "ParentImage": "parent-of-" + image}}
}

func sysmonConn(sec int, guid, ip string) ev {
	return ev{sec, "WS1", map[string]any{"EventID": float64(3), "ProcessGuid": guid, "DestinationIp": ip, "DestinationPort": float64(443)}}
}

// sec4688 is a Security 4688 as vigil's field mapping leaves it: hex ids.
func sec4688(sec int, host, pid, ppid, image string) ev {
	return ev{sec, host, map[string]any{"EventID": float64(4688), "NewProcessId": pid, "ProcessId": ppid,
		"NewProcessName": image, "CommandLine": image + " /x"}}
}

func index(events []ev) *proctree.Index {
	ix := proctree.NewIndex()
	for i, e := range events {
		f := proctree.Map(e.fields)
		src := event.Source{Path: "in.jsonl", Line: int64(i + 1)}
		if proctree.IsStart(f) {
			ix.RecordStart(proctree.StartOf(f, e.host, at(e.sec), src))
		} else {
			ix.RecordConn(proctree.ConnOf(f, e.host, at(e.sec), src))
		}
	}
	return ix
}

func alertOf(e ev) *alert.Alert {
	ts := at(e.sec)
	return &alert.Alert{Host: e.host, Timestamp: &ts, Events: []alert.Event{{Timestamp: &ts, Fields: e.fields}}}
}

func images(ps []*proctree.Process) string {
	var out []string
	for _, p := range ps {
		s := p.Image
		if p.Inferred {
			s += "?"
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

func TestTree(t *testing.T) {
	sysmon := []ev{
		sysmonStart(1, "{A}", "{X}", "explorer", "explorer.exe"),
		sysmonStart(2, "{B}", "{A}", "winword", "winword.exe doc"),
		sysmonStart(3, "{C}", "{B}", "cmd", "cmd /c a.bat"),
		sysmonStart(4, "{D}", "{C}", "whoami", "whoami"),
		sysmonStart(5, "{E}", "{C}", "ping", "ping x"),
		sysmonConn(6, "{C}", "185.199.110.153"),
		sysmonConn(7, "{B}", "10.0.0.1"),
	}
	security := []ev{
		sec4688(1, "H1", "0x100", "0x4", "services"),
		sec4688(2, "H1", "0x200", "0x100", "childOfFirst100"),
		sec4688(5, "H1", "0x100", "0x4", "second100"), // id reused
		sec4688(6, "H1", "0x300", "0x100", "childOfSecond100"),
		sec4688(7, "H2", "0x400", "0x100", "otherHost"), // same parent id, other host
	}
	for _, tc := range []struct {
		name        string
		events      []ev
		alert       ev
		ancestors   string // nearest first
		process     string
		children    string
		connections string
	}{
		{name: "sysmon start by GUID", events: sysmon, alert: sysmon[2],
			ancestors: "winword,explorer,parent-of-explorer?", process: "cmd", children: "whoami,ping", connections: "185.199.110.153"},
		{name: "sysmon connection names its process", events: sysmon, alert: sysmon[5],
			ancestors: "winword,explorer,parent-of-explorer?", process: "cmd", children: "whoami,ping", connections: "185.199.110.153"},
		{name: "start not recorded: from the alert", events: sysmon[:1], alert: sysmon[2],
			ancestors: "parent-of-cmd?", process: "cmd"},
		// "?": a parent known only by its id (no start recorded).
		{name: "4688 by host and id, first holder of the id", events: security, alert: security[0],
			ancestors: "?", process: "services", children: "childOfFirst100"},
		{name: "4688 id reused: the second holder", events: security, alert: security[2],
			ancestors: "?", process: "second100", children: "childOfSecond100"},
		{name: "4688 parent is the id's holder at the child's start", events: security, alert: security[3],
			ancestors: "second100,?", process: "childOfSecond100"},
		{name: "4688 the same id on another host is another process", events: security, alert: security[4],
			ancestors: "?", process: "otherHost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := index(tc.events)
			tr := ix.Tree(alertOf(tc.alert))
			if tr == nil {
				t.Fatal("no tree")
			}
			if got := images(tr.Ancestors); got != tc.ancestors {
				t.Errorf("ancestors %q, want %q", got, tc.ancestors)
			}
			if tr.Process.Image != tc.process {
				t.Errorf("process %q, want %q", tr.Process.Image, tc.process)
			}
			if got := images(tr.Children); got != tc.children {
				t.Errorf("children %q, want %q", got, tc.children)
			}
			var conns []string
			for _, c := range tr.Connections {
				conns = append(conns, c.IP)
			}
			if got := strings.Join(conns, ","); got != tc.connections {
				t.Errorf("connections %q, want %q", got, tc.connections)
			}
		})
	}
}

func TestBoundsAndDuplicates(t *testing.T) {
	ix := proctree.NewIndex()
	ix.MaxStarts, ix.MaxConns = 2, 1
	for i, g := range []string{"{A}", "{A}", "{B}", "{C}"} { // {A} twice: one process in two logs
		ix.RecordStart(proctree.Process{GUID: g, Time: at(i), Image: g})
	}
	ix.RecordConn(proctree.Conn{GUID: "{A}", IP: "1.1.1.1"})
	ix.RecordConn(proctree.Conn{GUID: "{A}", IP: "2.2.2.2"})
	st := ix.Stats()
	if st.Starts != 2 || st.DroppedStarts != 1 || st.Connections != 1 || st.DroppedConnections != 1 {
		t.Errorf("stats %+v, want 2 starts (1 dropped), 1 connection (1 dropped)", st)
	}
	// More children than a tree shows.
	ix = proctree.NewIndex()
	ix.RecordStart(proctree.Process{GUID: "{P}", Time: at(0), Image: "p"})
	for i := range proctree.MaxChildren + 7 {
		ix.RecordStart(proctree.Process{GUID: "{K" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "}", ParentGUID: "{P}", Time: at(i + 1)})
	}
	ts := at(0)
	tr := ix.Tree(&alert.Alert{Events: []alert.Event{{Timestamp: &ts, Fields: map[string]any{"ProcessGuid": "{P}", "Image": "p"}}}})
	if len(tr.Children) != proctree.MaxChildren || tr.MoreChildren != 7 {
		t.Errorf("%d children and %d more, want %d and 7", len(tr.Children), tr.MoreChildren, proctree.MaxChildren)
	}
}

func TestNoProcess(t *testing.T) {
	ix := proctree.NewIndex()
	if tr := ix.Tree(&alert.Alert{Events: []alert.Event{{Fields: map[string]any{"EventID": float64(4624), "TargetUserName": "x"}}}}); tr != nil {
		t.Errorf("a logon event gave a tree: %+v", tr)
	}
}
