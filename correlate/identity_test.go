package correlate_test

import (
	"testing"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/sigma"
)

// epoch is an Identity that puts every match in the instance named by
// its "epoch" field, and gives the value of "Guid" to matches lacking it.
type epoch struct{ calls int }

func (e *epoch) Identify(m *correlate.Match) (string, map[string]string) {
	e.calls++
	ep, _ := m.Event.Fields["epoch"].(string)
	return ep, map[string]string{"Guid": "g-" + ep}
}

// TestIdentity: matches of different instances never share a group (of
// the sequence, nor of the event_count reading it, whose group values do
// not show the instance), and fields the identity knows stand in for
// group-by fields the event lacks.
func TestIdentity(t *testing.T) {
	const rules = `title: start
name: start
logsource: {product: test}
detection:
    sel: {kind: start}
    condition: sel
---
title: conn
name: conn
logsource: {product: test}
detection:
    sel: {kind: conn}
    condition: sel
---
title: seq
name: seq
correlation: {type: temporal_ordered, rules: [start, conn], group-by: [host, Guid], timespan: 10s}
---
title: once
correlation: {type: event_count, rules: [seq], group-by: [host], timespan: 10s, condition: {gte: 1}}
`
	f, set := compileYAML(t, "r.yml", rules)
	byName := map[string]*sigma.Rule{}
	for _, r := range f.Rules {
		byName[r.Name] = r
	}
	t0 := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	m := func(sec int, kind, ep, guid string) correlate.Match {
		fields := map[string]any{"host": "h", "kind": kind, "epoch": ep}
		if guid != "" {
			fields["Guid"] = guid
		}
		return correlate.Match{Rule: byName[kind], Time: t0.Add(time.Duration(sec) * time.Second), Seq: uint64(sec), Host: "h", Event: alert.Event{Fields: fields}}
	}
	for _, c := range []struct {
		name    string
		matches []correlate.Match
		want    int
	}{
		{"same instance, guid from the identity", []correlate.Match{m(0, "start", "1", "g-1"), m(1, "conn", "1", "")}, 1},
		{"same guid in the events, another instance", []correlate.Match{m(0, "start", "1", "g"), m(1, "conn", "2", "g")}, 0},
		{"two instances, each complete", []correlate.Match{m(0, "start", "1", "g"), m(1, "start", "2", "g"), m(2, "conn", "2", "g"), m(3, "conn", "1", "g")}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []*alert.Alert
			id := &epoch{}
			p := correlate.NewProcessor(set, correlate.Options{Identity: id, Emit: func(a *alert.Alert) { got = append(got, a) }})
			for _, x := range c.matches {
				p.Process(x)
			}
			p.Flush()
			if len(got) != c.want {
				t.Errorf("%d alerts, want %d", len(got), c.want)
			}
			for _, a := range got {
				if a.Rule.Title != "once" || len(a.Group) != 1 || a.Group["host"] != "h" {
					t.Errorf("alert %s group %v", a.Rule.Title, a.Group)
				}
			}
			if id.calls != len(c.matches) {
				t.Errorf("Identify called %d times, want once per match (%d)", id.calls, len(c.matches))
			}
		})
	}
	// Without an identity the group-by field must be in the event.
	var n int
	p := correlate.NewProcessor(set, correlate.Options{Emit: func(*alert.Alert) { n++ }})
	p.Process(m(0, "start", "1", "g-1"))
	p.Process(m(1, "conn", "1", ""))
	p.Flush()
	if n != 0 || p.Stats().NoGroup != 1 {
		t.Errorf("without identity: %d alerts, %d without group, want 0 and 1", n, p.Stats().NoGroup)
	}
}
