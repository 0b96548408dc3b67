package coverage_test

import (
	"context"
	"fmt"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/coverage"
	"github.com/vigil-detect/vigil/hunt"
)

// Which hosts of a fleet can the built-in advisory see?
func ExampleBuild() {
	hosts, _, err := coverage.Scan(context.Background(), hunt.ExpandInputs([]string{"../testdata/fleet"}).Paths(), nil, hunt.Options{})
	if err != nil {
		panic(err)
	}
	coll, _ := advisory.Rules()
	set, _ := correlate.Compile(coll.Correlations, coll.Rules)
	adv := coverage.NewRuleSet(nil, coll, set, advisory.IsContextRule)
	for _, h := range coverage.Build(hosts, adv, nil).Hosts {
		fmt.Println(h.Host, h.Advisory)
	}
	// Output:
	// WS-MIXED.corp.example covered
	// WS-NOCMDLINE.corp.example blind
	// WS-NONET.corp.example blind
	// WS-SECURITY.corp.example covered
	// WS-SYSMON.corp.example covered
}
