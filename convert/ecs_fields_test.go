package convert_test

import (
	"sort"
	"testing"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/convert/elastic"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/sigma"
)

// TestECSWindowsFields: every field ecs_windows writes for SigmaHQ's
// Windows rules and the advisory (conditions, field references,
// correlation group-by fields) is an ECS field or one Winlogbeat writes
// (convert/elastic/fields.txt).
func TestECSWindowsFields(t *testing.T) {
	pl, err := convert.LoadPipeline("ecs_windows")
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]int{}
	check := func(coll *sigma.Collection) {
		prepared := map[string]*convert.Prepared{}
		for _, r := range coll.Rules {
			p, err := convert.Prepare(r, coll.Filters, []*convert.Pipeline{pl})
			if err != nil {
				continue
			}
			prepared[r.ID], prepared[r.Name] = p, p
			convert.Walk(p.Tree, func(c *convert.Cond) {
				for _, f := range []string{c.Field, c.Ref} {
					if f != "" && !elastic.KnownField(f) {
						bad[f+" ("+c.Orig+")"]++
					}
				}
			})
		}
		for _, c := range coll.Correlations {
			for _, n := range c.Rules {
				p := prepared[n]
				if p == nil {
					continue
				}
				for _, g := range c.GroupBy {
					if f := convert.CorrField(c, p, g); !elastic.KnownField(f) {
						bad[f+" (group-by "+g+")"]++
					}
				}
			}
		}
	}
	coll, _ := sigma.LoadPaths(corpus.Require(t, "sigma", "rules", "windows"))
	check(coll)
	adv, errs := advisory.Rules()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	check(adv)
	var names []string
	for f := range bad {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		t.Errorf("not an ECS or Winlogbeat field: %s, %d conditions", f, bad[f])
	}
}
