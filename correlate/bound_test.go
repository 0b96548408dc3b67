package correlate_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
)

// TestMaxGroupsBoundsMatches: --max-groups bounds the matches the groups
// hold, not only the groups: one group collecting a match per event
// (event_count over a long window) and many groups of several matches
// each stay under the cap, the excess evicted and counted.
func TestMaxGroupsBoundsMatches(t *testing.T) {
	const rules = `title: Conn
name: conn
logsource: {product: test}
detection:
    sel: {kind: conn}
    condition: sel
---
title: Many connections
correlation:
    type: event_count
    rules: [conn]
    group-by: [Key]
    timespan: 30d
    condition: {gte: 1000000000}
---
title: Sequence
correlation:
    type: temporal_ordered
    rules: [conn, conn, conn]
    group-by: [Key]
    timespan: 30d
`
	f, set := compileYAML(t, "bound.yml", rules)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, keys := range []int{1, 50, 100000} {
		t.Run(fmt.Sprintf("%d keys", keys), func(t *testing.T) {
			const limit, n = 1000, 100000
			p := correlate.NewProcessor(set, correlate.Options{MaxGroups: limit})
			for i := range n {
				p.Process(correlate.Match{Rule: f.Rules[0], Time: base.Add(time.Duration(i) * time.Millisecond), Seq: uint64(i),
					Event: alert.Event{Fields: map[string]any{"Key": fmt.Sprint(i % keys)}}})
				if st := p.Stats(); st.Held > limit || st.Open > limit {
					t.Fatalf("after %d matches: %d held in %d groups, over %d", i+1, st.Held, st.Open, limit)
				}
			}
			st := p.Stats()
			// While one match is fed to its correlations, they may hold it
			// once each beyond the cap.
			if st.Evicted == 0 || st.MaxHeld > limit+3 || st.MaxHeld < limit/2 {
				t.Errorf("stats %+v: want evictions and at most %d matches held", st, limit+3)
			}
			p.Flush()
			if st := p.Stats(); st.Held != 0 || st.Open != 0 {
				t.Errorf("after Flush: %d held in %d groups", st.Held, st.Open)
			}
		})
	}
}
