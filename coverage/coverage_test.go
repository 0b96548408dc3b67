package coverage_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/coverage"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/sigma"
)

var update = flag.Bool("update", false, "rewrite coverage/testdata from the current output")

func advisorySet(t *testing.T) *coverage.RuleSet {
	t.Helper()
	coll, errs := advisory.Rules()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	set, cerrs := correlate.Compile(coll.Correlations, coll.Rules)
	if len(cerrs) > 0 {
		t.Fatal(cerrs)
	}
	return coverage.NewRuleSet(nil, coll, set, advisory.IsContextRule)
}

func scan(t *testing.T, paths ...string) []*coverage.Host {
	t.Helper()
	hosts, _, err := coverage.Scan(context.Background(), hunt.ExpandInputs(paths).Paths(), nil, hunt.Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	return hosts
}

// TestFleet: the mixed fleet of testdata/fleet (one folder, one host per
// file, WS-MIXED's start and connection in two files): the verdict of the
// advisory on each host, and the whole report against a golden file.
func TestFleet(t *testing.T) {
	hosts := scan(t, "../testdata/fleet")
	adv := advisorySet(t)
	rep := coverage.Build(hosts, adv, nil)
	for i, h := range hosts {
		// the quick check agrees with the full verdicts
		if got, want := adv.AllBlind(h), rep.Hosts[i].Advisory == coverage.Blind; got != want {
			t.Errorf("%s: AllBlind %v, advisory %s", h.Name, got, rep.Hosts[i].Advisory)
		}
	}
	want := map[string]struct {
		status  coverage.Status
		missing string
	}{
		"WS-SYSMON.corp.example":    {coverage.Covered, ""},
		"WS-SECURITY.corp.example":  {coverage.Covered, ""},
		"WS-MIXED.corp.example":     {coverage.Covered, ""},
		"WS-NOCMDLINE.corp.example": {coverage.Blind, `"Include command line in process creation events" policy is off`},
		"WS-NONET.corp.example":     {coverage.Blind, "no network connection events"},
	}
	if len(rep.Hosts) != len(want) {
		t.Errorf("%d hosts, want %d", len(rep.Hosts), len(want))
	}
	for _, h := range rep.Hosts {
		w, ok := want[h.Host]
		if !ok {
			t.Errorf("unexpected host %q", h.Host)
			continue
		}
		if h.Advisory != w.status {
			t.Errorf("%s: advisory %s, want %s (missing %v)", h.Host, h.Advisory, w.status, h.Missing)
		}
		if w.missing == "" && len(h.Missing) > 0 || w.missing != "" && (len(h.Missing) == 0 || !strings.Contains(h.Missing[0].Missing, w.missing) || h.Missing[0].Remedy == "") {
			t.Errorf("%s: missing %+v, want %q with a remedy", h.Host, h.Missing, w.missing)
		}
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	golden(t, "fleet.json", buf.Bytes())
	buf.Reset()
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	golden(t, "fleet.table", buf.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./coverage -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test ./coverage -update rewrites it):\n%s", path, got)
	}
}

// TestHostShapes: one host per case, written here, judged for the
// advisory.
func TestHostShapes(t *testing.T) {
	const (
		cmd  = `C:\\Windows\\System32\\cmd.exe`
		word = `C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE`
	)
	s4688 := func(cmdline, parent string) string {
		l := `{"TimeCreated":"2026-03-04T10:00:02Z","Channel":"Security","EventID":4688,"Computer":"H","NewProcessId":"0x1c2c","NewProcessName":"` + cmd + `","ProcessId":"0x1004"`
		if cmdline != "" {
			l += `,"CommandLine":"` + cmdline + `"`
		}
		if parent != "" {
			l += `,"ParentProcessName":"` + parent + `"`
		}
		return l + "}"
	}
	s5156 := `{"TimeCreated":"2026-03-04T10:00:03Z","Channel":"Security","EventID":5156,"Computer":"H","ProcessID":7212,"Application":"\\device\\harddiskvolume3\\windows\\system32\\cmd.exe","DestAddress":"8.8.8.8","DestPort":"443"}`
	sys1 := `{"@timestamp":"2026-03-04T10:00:02Z","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Computer":"H","ProcessGuid":"{A}","ProcessId":7212,"Image":"` + cmd + `","CommandLine":"cmd /c a.bat","ParentImage":"` + word + `"}`
	sys3 := `{"@timestamp":"2026-03-04T10:00:03Z","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":3,"Computer":"H","ProcessGuid":"{A}","ProcessId":7212,"Image":"` + cmd + `","DestinationIp":"8.8.8.8"}`
	ecsStart := `{"@timestamp":"2026-03-04T10:00:02Z","event":{"category":["process"],"type":["start"]},"host":{"name":"H"},"process":{"entity_id":"A","pid":7212,"executable":"` + cmd + `","command_line":"cmd /c a.bat","parent":{"executable":"` + word + `"}}}`
	ecsNet := `{"@timestamp":"2026-03-04T10:00:03Z","event":{"category":["network"],"type":["start"]},"host":{"name":"H"},"process":{"entity_id":"A","pid":7212,"executable":"` + cmd + `"},"destination":{"ip":"8.8.8.8","port":443}}`
	for _, c := range []struct {
		name    string
		lines   []string
		want    coverage.Status
		missing []string
		process []coverage.Kind
		network []coverage.Kind
	}{
		{"sysmon 1 and 3", []string{sys1, sys3}, coverage.Covered, nil, []coverage.Kind{coverage.Sysmon1}, []coverage.Kind{coverage.Sysmon3}},
		{"4688 with command lines and 5156", []string{s4688("cmd /c a.bat", word), s5156}, coverage.Covered, nil, []coverage.Kind{coverage.Security4688}, []coverage.Kind{coverage.Security5156}},
		{"4688 without command lines", []string{s4688("", word), s5156}, coverage.Blind, []string{"policy is off"}, []coverage.Kind{coverage.Security4688}, []coverage.Kind{coverage.Security5156}},
		{"4688 without parent (before Windows 10): the Office rule is blind", []string{s4688("cmd /c a.bat", ""), s5156}, coverage.Partial, []string{"no parent process image"}, []coverage.Kind{coverage.Security4688}, []coverage.Kind{coverage.Security5156}},
		{"process starts, no network", []string{sys1, s4688("cmd /c a.bat", word)}, coverage.Blind, []string{"no network connection events"}, []coverage.Kind{coverage.Security4688, coverage.Sysmon1}, nil},
		{"network, no process starts", []string{sys3, s5156}, coverage.Blind, []string{"no process creation events"}, nil, []coverage.Kind{coverage.Security5156, coverage.Sysmon3}},
		{"ecs", []string{ecsStart, ecsNet}, coverage.Covered, nil, []coverage.Kind{coverage.ECSProcess}, []coverage.Kind{coverage.ECSNetwork}},
		{"sysmon start, 5156 connection", []string{sys1, s5156}, coverage.Covered, nil, []coverage.Kind{coverage.Sysmon1}, []coverage.Kind{coverage.Security5156}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "h.jsonl")
			if err := os.WriteFile(p, []byte(strings.Join(c.lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			rep := coverage.Build(scan(t, p), advisorySet(t), nil)
			if len(rep.Hosts) != 1 {
				t.Fatalf("%d hosts, want 1: %+v", len(rep.Hosts), rep.Hosts)
			}
			h := rep.Hosts[0]
			if h.Advisory != c.want {
				t.Errorf("advisory %s, want %s (missing %+v)", h.Advisory, c.want, h.Missing)
			}
			var gaps []string
			for _, g := range h.Missing {
				gaps = append(gaps, g.Missing)
				if g.Remedy == "" {
					t.Errorf("gap %q without a remedy", g.Missing)
				}
			}
			for _, m := range c.missing {
				if !strings.Contains(strings.Join(gaps, "\n"), m) {
					t.Errorf("missing %q, want one containing %q", gaps, m)
				}
			}
			if c.missing == nil && len(gaps) > 0 {
				t.Errorf("missing %q, want none", gaps)
			}
			if got := kinds(h.ProcessCreation); strings.Join(got, ",") != strings.Join(strs(c.process), ",") {
				t.Errorf("process creation %v, want %v", got, c.process)
			}
			if got := kinds(h.Network); strings.Join(got, ",") != strings.Join(strs(c.network), ",") {
				t.Errorf("network %v, want %v", got, c.network)
			}
		})
	}
}

func kinds(srs []coverage.SourceReport) []string {
	var out []string
	for _, s := range srs {
		out = append(out, string(s.Source))
	}
	return out
}

func strs(ks []coverage.Kind) []string {
	var out []string
	for _, k := range ks {
		out = append(out, string(k))
	}
	return out
}

// TestRuleVerdicts: rules judged on a host with 4688 without command
// lines and Sysmon 3: a condition that cannot hold without the command
// line is blind, one that can (or a filter reading it) is partial, a rule on a log source the host
// lacks is blind, one on Sysmon 3 is covered; correlations follow their
// rules.
func TestRuleVerdicts(t *testing.T) {
	rules := `title: needs cmdline
id: r1
logsource: {category: process_creation, product: windows}
detection:
    sel_img: {Image|endswith: '\cmd.exe'}
    sel_cl: {CommandLine|contains: ' /c '}
    condition: all of sel_*
---
title: cmdline or image
id: r2
logsource: {category: process_creation, product: windows}
detection:
    a: {CommandLine|contains: 'x'}
    b: {Image|endswith: '\x.exe'}
    condition: a or b
---
title: not cmdline
id: r3
logsource: {category: process_creation, product: windows}
detection:
    sel: {Image|endswith: '\x.exe'}
    filter: {CommandLine|contains: 'y'}
    condition: sel and not filter
---
title: one of cmdline searches
id: r4
logsource: {category: process_creation, product: windows}
detection:
    sel1: {CommandLine|contains: 'a'}
    sel2: [{CommandLine|contains: 'b'}, {ParentCommandLine|contains: 'c'}]
    condition: 1 of sel*
---
title: dns
id: r5
logsource: {category: dns_query, product: windows}
detection:
    sel: {QueryName: x}
    condition: sel
---
title: net
id: r6
logsource: {category: network_connection, product: windows}
detection:
    sel: {DestinationPort: 4444}
    condition: sel
---
title: logon
id: r7
logsource: {product: windows, service: security}
detection:
    sel: {EventID: [4624, 4625], LogonType: 10}
    condition: sel
---
title: process start by event id
id: r8
logsource: {product: windows, service: security}
detection:
    sel: {EventID: 4688}
    other: {EventID: 4624}
    condition: sel or other
---
title: seq
id: c1
correlation: {type: temporal_ordered, rules: [r1, r6], group-by: [Computer], timespan: 10s}
---
title: count
id: c2
correlation: {type: event_count, rules: [r5, r6], group-by: [Computer], timespan: 10s, condition: {gte: 2}}
`
	dir := t.TempDir()
	rp := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(rp, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	coll, errs := sigma.LoadPaths(rp)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	set, cerrs := correlate.Compile(coll.Correlations, coll.Rules)
	if len(cerrs) > 0 {
		t.Fatal(cerrs)
	}
	events := `{"TimeCreated":"2026-03-04T10:00:02Z","Channel":"Security","EventID":4688,"Computer":"H","NewProcessId":"0x1c2c","NewProcessName":"C:\\Windows\\System32\\cmd.exe","ProcessId":"0x1004","ParentProcessName":"C:\\Windows\\explorer.exe"}
{"@timestamp":"2026-03-04T10:00:03Z","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":3,"Computer":"H","ProcessId":7212,"DestinationIp":"8.8.8.8","DestinationPort":4444}
`
	ep := filepath.Join(dir, "h.jsonl")
	if err := os.WriteFile(ep, []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := coverage.NewRuleSet(nil, coll, set, nil)
	rep := coverage.Build(scan(t, ep), nil, rs)
	got := map[string]coverage.Status{}
	for _, v := range rep.Hosts[0].Rules.List {
		got[v.ID] = v.Status
	}
	want := map[string]coverage.Status{
		// r1 and r6 only feed c1, which has no generate: they are judged
		// through it
		// r3 fires, but its filter reads the missing command line
		"r2": coverage.Partial, "r3": coverage.Partial, "r4": coverage.Blind,
		// the Security channel is there, but not the logon events
		"r7": coverage.Blind, "r8": coverage.Covered,
		"c1": coverage.Blind, "c2": coverage.Covered,
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %s, want %s", id, got[id], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("verdicts %v, want %v", got, want)
	}
	r := rep.Hosts[0].Rules
	if r.Covered != 2 || r.Partial != 2 || r.Blind != 3 {
		t.Errorf("counts %d/%d/%d, want 2/2/3", r.Covered, r.Partial, r.Blind)
	}
	for _, v := range r.List {
		if v.ID == "r7" && (len(v.Missing) != 1 || v.Missing[0].Missing != "no events 4624, 4625 (Security 4624,4625)" || !strings.Contains(v.Missing[0].Remedy, "Audit Logon")) {
			t.Errorf("r7: missing %+v", v.Missing)
		}
	}
}
