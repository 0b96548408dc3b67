package sigma_test

import (
	"fmt"

	"github.com/vigil-detect/vigil/sigma"
)

func ExampleParse() {
	src := `title: Whoami Execution
id: 502b42de-4306-40b4-9596-6f590c81f073
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\whoami.exe'
    filter:
        User|contains: 'SYSTEM'
    condition: selection and not filter
level: medium
---
title: Broken
logsource:
    product: windows
detection:
    selection:
        CommandLine|contians: 'x'
    condition: selection and not filtr
`
	f, errs := sigma.Parse("rules.yml", []byte(src))
	for _, r := range f.Rules {
		fmt.Printf("%s (%s): %s\n", r.Title, r.LogSource.Category, r.Detection.Conditions[0].Expr)
		it := r.Detection.Search("selection").Alternatives[0].Items[0]
		fmt.Printf("  %s|%s %q at line %d\n", it.Field, it.Modifiers[0].Name, it.Values[0].Text, it.Pos.Line)
	}
	for _, e := range errs {
		fmt.Println(e)
	}
	// Output:
	// Whoami Execution (process_creation): selection and not filter
	//   Image|endswith "\\whoami.exe" at line 8
	// rules.yml:19:21: unknown modifier "contians" (did you mean "contains"?)
	// rules.yml:20:34: condition refers to undefined search identifier "filtr"
}
