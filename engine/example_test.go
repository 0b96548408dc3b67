package engine_test

import (
	"fmt"

	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/sigma"
	"github.com/vigil-detect/vigil/source/jsonl"
)

func ExampleCompile() {
	f, errs := sigma.Parse("rules.yml", []byte(`title: Whoami Execution
id: whoami
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\whoami.exe'
    filter:
        User|contains: 'SYSTEM'
    condition: selection and not filter
`))
	if len(errs) > 0 {
		panic(errs)
	}
	eng, cerrs := engine.Compile(f.Rules, engine.Options{})
	if len(cerrs) > 0 {
		panic(cerrs)
	}

	// Events must be decoded with the engine's schema.
	ev := event.New(eng.Schema())
	var dec jsonl.Decoder
	for _, line := range []string{
		`{"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "C:\\Windows\\System32\\WHOAMI.EXE", "User": "CORP\\bob"}`,
		`{"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "C:\\Windows\\System32\\whoami.exe", "User": "NT AUTHORITY\\SYSTEM"}`,
		// A network connection is not a process creation: the rule is not tested.
		`{"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 3, "Image": "C:\\Windows\\System32\\whoami.exe"}`,
	} {
		if err := dec.Decode([]byte(line), ev); err != nil {
			panic(err)
		}
		matched, err := eng.Match(ev, nil)
		if err != nil {
			panic(err)
		}
		img, _ := ev.Get("Image")
		user, _ := ev.Get("User")
		eid, _ := ev.Get("EventID")
		fmt.Printf("EventID %s %s %q:", eid, img, user)
		for _, r := range matched {
			fmt.Printf(" %s", r.ID())
		}
		if len(matched) == 0 {
			fmt.Print(" no match")
		}
		fmt.Println()
	}
	// Output:
	// EventID 1 C:\Windows\System32\WHOAMI.EXE "CORP\\bob": whoami
	// EventID 1 C:\Windows\System32\whoami.exe "NT AUTHORITY\\SYSTEM": no match
	// EventID 3 C:\Windows\System32\whoami.exe "": no match
}
