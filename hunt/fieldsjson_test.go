package hunt_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/sigma"
)

// TestFieldsJSON runs the example rules alone and with the built-in
// advisory (correlations, context rules, enriched as vigil hunt does),
// with and without Options.FieldsJSON: the JSON Lines of the alerts must
// be the same bytes, the events that correlations read must keep their
// Fields map, and the events that only the writer reads must have none
// (what the option saves).
func TestFieldsJSON(t *testing.T) {
	const path = "../testdata/example/events.jsonl"
	ex, adv := exampleRules(t)
	both := &sigma.Collection{}
	both.Add(ex)
	both.Add(adv)
	var read, encoded int // events correlations read; events with only their JSON
	for _, coll := range []*sigma.Collection{ex, both} {
		eng, norm, set := compile(t, coll)
		feeds := map[string]bool{}
		for _, r := range coll.Rules {
			if set.Feeds(r) {
				feeds[r.ID] = true
			}
		}
		run := func(fieldsJSON bool) ([]*alert.Alert, string) {
			en := advisory.NewEnricher()
			opts := hunt.Options{Workers: 2, Normalizer: norm, Correlations: set, FieldsJSON: fieldsJSON,
				Enrich: en.Enrich, Identity: en.Identity(),
				Context: func(r *engine.Rule) bool { return advisory.IsContextRule(r.Sigma) },
				Observe: func(_ *engine.Rule, e *event.Event) { en.Record(advisory.ProcessOf(e)) }}
			var c collect
			if _, err := hunt.Run(context.Background(), eng, []string{path}, &c, opts); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			w := alert.NewJSONLines(&out)
			for _, a := range c.alerts {
				if err := w.Write(a); err != nil {
					t.Fatal(err)
				}
			}
			return c.alerts, out.String()
		}
		_, want := run(false)
		alerts, got := run(true)
		if got != want {
			t.Errorf("with FieldsJSON:\n%s\nwithout:\n%s", got, want)
		}
		for _, a := range alerts {
			for _, e := range a.Events {
				if a.Rule.Type == "correlation" || feeds[a.Rule.ID] {
					read++
					if e.Fields == nil {
						t.Errorf("%s: an event correlations read has no Fields", a.Rule.Title)
					}
				}
				if e.Fields == nil {
					encoded++
					if e.FieldsJSON() == nil {
						t.Errorf("%s: an event has neither Fields nor FieldsJSON", a.Rule.Title)
					}
				}
			}
		}
	}
	if read == 0 || encoded == 0 {
		t.Errorf("%d events read by correlations, %d only encoded: the comparison proves too little", read, encoded)
	}
}
