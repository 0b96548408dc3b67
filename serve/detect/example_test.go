package detect_test

import (
	"fmt"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/serve/detect"
)

// ExampleAlertID shows that an alert's id comes from its rule and events,
// not from where the events were read.
func ExampleAlertID() {
	ts := time.Date(2026, 3, 4, 9, 15, 9, 481e6, time.UTC)
	mk := func(src event.Source) *alert.Alert {
		return &alert.Alert{
			Rule:      alert.Rule{ID: "3f2a9c61-5b0e-4d7a-9a43-1c7e8b2d4f10", Type: "detection"},
			Timestamp: &ts,
			Events:    []alert.Event{{Source: src, Timestamp: &ts, Fields: map[string]any{"EventID": 1, "Image": `C:\Windows\System32\cmd.exe`}}},
		}
	}
	fromFile, _ := detect.AlertID(mk(event.Source{Path: "events.jsonl", Line: 2}))
	fromStream, _ := detect.AlertID(mk(event.Source{Path: "http", Line: 1, RecordID: 4711}))
	other := mk(event.Source{})
	other.Events[0].Fields["Image"] = `C:\Windows\System32\whoami.exe`
	otherID, _ := detect.AlertID(other)
	fmt.Println(len(fromFile), fromFile == fromStream, fromFile == otherID)
	// Output:
	// 32 true false
}
