package advisory

import (
	"testing"
	"time"

	"github.com/vigil-detect/vigil/event"
)

// TestRecordOrderIndependent records process starts with equal
// timestamps in both orders, as concurrent workers may, and requires the
// same recorded state.
func TestRecordOrderIndependent(t *testing.T) {
	ts := time.Date(2026, 3, 4, 9, 15, 0, 0, time.UTC)
	a := Process{Time: ts, Host: "ws1", PID: "100", Image: `C:\a.exe`, Source: event.Source{Path: "x.jsonl", Line: 1}}
	b := Process{Time: ts, Host: "ws1", PID: "100", Image: `C:\b.exe`, Source: event.Source{Path: "x.jsonl", Line: 2}}
	g1 := Process{Time: ts, GUID: "{G}", Image: `C:\first.exe`, Source: event.Source{Path: "x.jsonl", Line: 3}}
	g2 := Process{Time: ts, GUID: "{g}", Image: `C:\second.exe`, Source: event.Source{Path: "y.jsonl", Line: 1}}
	images := func(order ...Process) (string, string) {
		en := NewEnricher()
		for _, p := range order {
			en.Record(p)
		}
		l := en.byPID["ws1|100"]
		return l[0].Image + l[1].Image, en.byGUID["{g}"].Image
	}
	p1, q1 := images(a, b, g1, g2)
	p2, q2 := images(b, a, g2, g1)
	if p1 != p2 || q1 != q2 {
		t.Errorf("order changes the state: %q %q vs %q %q", p1, q1, p2, q2)
	}
	if q1 != `C:\first.exe` {
		t.Errorf("GUID kept %q, want the first by input location", q1)
	}
}
