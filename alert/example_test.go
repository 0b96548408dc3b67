package alert_test

import (
	"fmt"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/event"
)

// ExampleEventEncoder_Event builds an alert's record with its fields
// encoded where the event was matched: the JSON Lines writer copies them.
func ExampleEventEncoder_Event() {
	e := event.New(event.NewSchema(nil))
	e.Add("Image", `C:\Windows\System32\cmd.exe`, event.String)
	e.Add("EventID", "1", event.Number)
	e.Add("Tag", "a", event.String)
	e.Add("Tag", "b", event.String)
	e.Source = event.Source{Path: "sysmon.jsonl", Line: 3}

	var enc alert.EventEncoder
	rec := enc.Event(e, false) // no reader of the alert needs its Fields map
	fmt.Printf("%s %v\n", rec.FieldsJSON(), rec.Fields == nil)
	b, _ := alert.AppendJSON(nil, &alert.Alert{Rule: alert.Rule{ID: "r1", Title: "cmd", Tags: []string{}, Type: "detection"},
		Events: []alert.Event{rec}})
	fmt.Println(string(b))
	// Output:
	// {"EventID":1,"Image":"C:\\Windows\\System32\\cmd.exe","Tag":["a","b"]} true
	// {"rule":{"id":"r1","title":"cmd","tags":[],"type":"detection"},"events":[{"source":{"path":"sysmon.jsonl","line":3},"fields":{"EventID":1,"Image":"C:\\Windows\\System32\\cmd.exe","Tag":["a","b"]}}]}
}
