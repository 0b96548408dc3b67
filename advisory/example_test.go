package advisory_test

import (
	"fmt"
	"time"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/sigma"
)

// A process id reused between a start and a connection: the connection
// belongs to the latest process that started with its id before it.
func ExampleInstances() {
	ids := advisory.NewInstances()
	at := func(sec int) time.Time { return time.Date(2026, 3, 4, 9, 15, sec, 0, time.UTC) }
	// Security 4688: cmd.exe gets id 6700, notepad.exe reuses it 3 s later.
	ids.Record(advisory.Process{Time: at(0), Host: "WS1", PID: "6700", Image: `C:\Windows\System32\cmd.exe`, Source: event.Source{Path: "Security.evtx", RecordID: 1}})
	ids.Record(advisory.Process{Time: at(3), Host: "WS1", PID: "6700", Image: `C:\Windows\System32\notepad.exe`, Source: event.Source{Path: "Security.evtx", RecordID: 2}})

	// The advisory's connection rule, and two Security 5156 of id 6700.
	rule := &sigma.Rule{LogSource: sigma.LogSource{Category: "network_connection", Product: "windows"}}
	rule.Pos.File = advisory.PathPrefix + "rules/net_connection_cmd_internet.yml"
	conn := func(sec int, rec uint64) *correlate.Match {
		return &correlate.Match{Rule: rule, Time: at(sec), Host: "WS1",
			Event: alert.Event{Source: event.Source{Path: "Security.evtx", RecordID: rec}, Fields: map[string]any{"ProcessId": "6700"}}}
	}
	first, _ := ids.Identify(conn(2, 3))
	second, _ := ids.Identify(conn(4, 4))
	fmt.Println(first)
	fmt.Println(second)
	// Output:
	// ws1|6700@1772615700000000000
	// ws1|6700@1772615703000000000
}
