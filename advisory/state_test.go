package advisory

import (
	"reflect"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/event"
)

// TestStateRoundTrip saves and restores recorded starts: the restored
// enricher holds the same starts, indexed the same way.
func TestStateRoundTrip(t *testing.T) {
	ts := time.Date(2026, 3, 4, 9, 15, 0, 0, time.UTC)
	en := NewEnricher()
	en.Record(Process{Time: ts, Host: "ws1", PID: "100", ParentPID: "4", Image: `C:\a.exe`, Source: event.Source{Path: "x", Line: 1}})
	en.Record(Process{Time: ts.Add(time.Second), Host: "ws1", PID: "100", Image: `C:\b.exe`, CommandLine: "b", User: "u", Source: event.Source{Path: "x", Line: 2}})
	en.Record(Process{Time: ts, Host: "ws2", GUID: "{G}", ParentGUID: "{P}", Image: `C:\c.exe`, Source: event.Source{Path: "y", RecordID: 7}})
	en.Dropped = 3
	data, err := en.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	got := NewEnricher()
	got.Record(Process{Time: ts, GUID: "{OLD}"})
	if err := got.UnmarshalState(data); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.byGUID, en.byGUID) || !reflect.DeepEqual(got.byPID, en.byPID) || got.n != en.n || got.Dropped != 3 {
		t.Errorf("restored %+v %+v %d, want %+v %+v %d", got.byGUID, got.byPID, got.n, en.byGUID, en.byPID, en.n)
	}
	if got.Len() != 3 {
		t.Errorf("Len %d", got.Len())
	}
}

// TestPrune forgets starts older than a time, by GUID and by pid.
func TestPrune(t *testing.T) {
	ts := time.Date(2026, 3, 4, 9, 15, 0, 0, time.UTC)
	en := NewEnricher()
	en.Record(Process{Time: ts, Host: "ws1", PID: "100"})
	en.Record(Process{Time: ts.Add(time.Hour), Host: "ws1", PID: "100"})
	en.Record(Process{Time: ts, Host: "ws1", PID: "200"})
	en.Record(Process{Time: ts, GUID: "{A}"})
	en.Record(Process{Time: ts.Add(time.Hour), GUID: "{B}"})
	if n := en.Prune(ts.Add(time.Minute)); n != 3 || en.Len() != 2 {
		t.Errorf("pruned %d, %d left; want 3 and 2", n, en.Len())
	}
	if len(en.byPID["ws1|100"]) != 1 || en.byPID["ws1|200"] != nil || en.byGUID["{a}"] != nil || en.byGUID["{b}"] == nil {
		t.Errorf("left: %v %v", en.byPID, en.byGUID)
	}
}
