package hunt_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/sigma"
)

type collect struct{ alerts []*alert.Alert }

func (c *collect) Write(a *alert.Alert) error { c.alerts = append(c.alerts, a); return nil }
func (c *collect) Close() error               { return nil }

func compile(t testing.TB, coll *sigma.Collection) (*engine.Engine, *mapping.Normalizer, *correlate.Set) {
	tbl := mapping.Default()
	eng, errs := engine.Compile(coll.Rules, engine.Options{Mapping: tbl, Fields: tbl.Fields().Names()})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	norm, err := mapping.NewNormalizer(tbl.Fields(), tbl, eng.Schema())
	if err != nil {
		t.Fatal(err)
	}
	set, cerrs := correlate.Compile(coll.Correlations, coll.Rules)
	if len(cerrs) > 0 {
		t.Fatal(cerrs)
	}
	return eng, norm, set
}

// TestStreamEqualsRun matches the example events one at a time and
// requires Run's detection alerts and correlation matches, for the
// example rules and for the built-in advisory (context rules, suppressed
// base rules).
func TestStreamEqualsRun(t *testing.T) {
	const path = "../testdata/example/events.jsonl"
	ex, adv := exampleRules(t)
	for name, coll := range map[string]*sigma.Collection{"example": ex, "advisory": adv} {
		t.Run(name, func(t *testing.T) {
			eng, norm, set := compile(t, coll)
			var observedRun, observedStream int
			opts := hunt.Options{Workers: 1, Normalizer: norm, Correlations: set,
				Context: func(r *engine.Rule) bool { return advisory.IsContextRule(r.Sigma) },
				Observe: func(*engine.Rule, *event.Event) { observedRun++ }}
			var run collect
			if _, err := hunt.Run(context.Background(), eng, []string{path}, &run, opts); err != nil {
				t.Fatal(err)
			}
			opts.Observe = func(*engine.Rule, *event.Event) { observedStream++ }
			s := hunt.NewStream(eng, opts)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var got []*alert.Alert
			var corr []correlate.Match
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for n := int64(1); sc.Scan(); n++ {
				r, err := s.Line(bytes.Clone(sc.Bytes()), event.Source{Path: path, Line: n}, uint64(n))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, r.Alerts...)
				corr = append(corr, r.Correlate...)
			}
			// Run writes the detection alerts first, then the
			// correlation stage's.
			var cp collect
			correlate.Sort(corr)
			p := correlate.NewProcessor(set, correlate.Options{Emit: func(a *alert.Alert) { cp.alerts = append(cp.alerts, a) }})
			for _, m := range corr {
				p.Process(m)
			}
			p.Flush()
			got = append(got, cp.alerts...)
			if a, b := jsonOf(t, run.alerts), jsonOf(t, got); a != b {
				t.Errorf("stream:\n%s\nrun:\n%s", b, a)
			}
			if observedRun != observedStream {
				t.Errorf("context matches: run %d, stream %d", observedRun, observedStream)
			}
			if len(run.alerts) == 0 {
				t.Error("no alert: the comparison proves nothing")
			}
		})
	}
}

func jsonOf(t *testing.T, as []*alert.Alert) string {
	var b bytes.Buffer
	for _, a := range as {
		j, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// ExampleStream matches one event against the example rules.
func ExampleStream() {
	coll, _ := sigma.LoadPaths("../testdata/example/rules")
	tbl := mapping.Default()
	eng, _ := engine.Compile(coll.Rules, engine.Options{Mapping: tbl, Fields: tbl.Fields().Names()})
	norm, _ := mapping.NewNormalizer(tbl.Fields(), tbl, eng.Schema())
	s := hunt.NewStream(eng, hunt.Options{Normalizer: norm})
	line := []byte(`{"@timestamp":"2026-03-04T09:15:09.481Z","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,` +
		`"Computer":"WS1","Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd.exe /c x.bat",` +
		`"ParentImage":"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"}`)
	r, err := s.Line(line, event.Source{Path: "http", Line: 1}, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range r.Alerts {
		fmt.Println(a.Rule.Title, a.Host, a.Timestamp.Format("15:04:05.000"))
	}
	// Output:
	// Command Prompt Started by an Office Application WS1 09:15:09.481
}

// exampleRules loads the example rules and the built-in advisory's.
func exampleRules(t *testing.T) (example, adv *sigma.Collection) {
	t.Helper()
	example, errs := sigma.LoadPaths("../testdata/example/rules")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	adv, aerrs := advisory.Rules()
	if len(aerrs) > 0 {
		t.Fatal(aerrs)
	}
	return example, adv
}
