package correlate_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/sigma"
	"github.com/vigil-detect/vigil/source/jsonl"
)

var update = flag.Bool("update", false, "rewrite the want.jsonl files of testdata cases")

// result is the compact form of an alert that want.jsonl holds: enough to
// tell which rule fired, when, for which group and on which events.
type result struct {
	Rule    string            `json:"rule"`
	Type    string            `json:"type"`
	CorType string            `json:"correlation_type,omitempty"`
	Time    string            `json:"time,omitempty"`
	Group   map[string]string `json:"group,omitempty"`
	Lines   []int64           `json:"lines"`
	Context map[string]any    `json:"context,omitempty"`
}

func compact(a *alert.Alert) string {
	r := result{Rule: a.Rule.Title, Type: a.Rule.Type, CorType: a.CorrelationType, Group: a.Group, Context: a.Context}
	if a.Timestamp != nil {
		r.Time = a.Timestamp.Format(time.RFC3339Nano)
	}
	for _, e := range a.Events {
		r.Lines = append(r.Lines, e.Source.Line)
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return string(b)
}

type testCase struct {
	dir   string
	eng   *engine.Engine
	set   *correlate.Set
	lines [][]byte
}

func loadCase(t testing.TB, dir string) *testCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	f, errs := sigma.Parse("rules.yml", data)
	if len(errs) > 0 {
		t.Fatalf("parse: %v", errs)
	}
	eng, cerrs := engine.Compile(f.Rules, engine.Options{})
	if len(cerrs) > 0 {
		t.Fatalf("compile: %v", cerrs)
	}
	set, serrs := correlate.Compile(f.Correlations, f.Rules)
	if len(serrs) > 0 {
		t.Fatalf("correlate: %v", serrs)
	}
	ev, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for l := range bytes.Lines(ev) {
		lines = append(lines, bytes.TrimSpace(l))
	}
	return &testCase{dir: dir, eng: eng, set: set, lines: lines}
}

// run matches the events in the given line order (a permutation of line
// indexes) and returns the compact alerts, sorted.
func (tc *testCase) run(t testing.TB, order []int) ([]string, correlate.Stats) {
	var dec jsonl.Decoder
	ev := event.New(tc.eng.Schema())
	var out []string
	var ms []correlate.Match
	for seq, i := range order {
		if len(tc.lines[i]) == 0 {
			continue
		}
		if err := jsonl.DecodeEvent(&dec, tc.lines[i], ev); err != nil {
			t.Fatalf("%s line %d: %v", tc.dir, i+1, err)
		}
		ev.Source = event.Source{Path: "events.jsonl", Line: int64(i + 1)}
		rules, err := tc.eng.Match(ev, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			a := &alert.Alert{Rule: alert.Rule{ID: r.ID(), Title: r.Sigma.Title, Type: "detection"}, Host: ev.Host()}
			ae := alert.FromEvent(ev)
			a.Timestamp, a.Events = ae.Timestamp, []alert.Event{ae}
			if tc.set.Feeds(r.Sigma) {
				ms = append(ms, correlate.MatchFromAlert(r.Sigma, a, uint64(seq)))
			}
			if !tc.set.Suppressed(r.Sigma) {
				out = append(out, compact(a))
			}
		}
	}
	correlate.Sort(ms)
	p := correlate.NewProcessor(tc.set, correlate.Options{Emit: func(a *alert.Alert) { out = append(out, compact(a)) }})
	for _, m := range ms {
		p.Process(m)
	}
	p.Flush()
	sort.Strings(out)
	return out, p.Stats()
}

func TestCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/rules.yml")
	if err != nil || len(dirs) == 0 {
		t.Fatal("no test cases", err)
	}
	for _, d := range dirs {
		dir := filepath.Dir(d)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			tc := loadCase(t, dir)
			order := make([]int, len(tc.lines))
			for i := range order {
				order[i] = i
			}
			got, _ := tc.run(t, order)
			wantPath := filepath.Join(dir, "want.jsonl")
			if *update {
				s := strings.Join(got, "\n")
				if s != "" {
					s += "\n"
				}
				if err := os.WriteFile(wantPath, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wb, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			want := strings.Split(strings.TrimSpace(string(wb)), "\n")
			if len(want) == 1 && want[0] == "" {
				want = nil
			}
			if !slices.Equal(got, want) {
				t.Errorf("alerts differ from %s:\n got:\n%s\nwant:\n%s", wantPath, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// The result must not depend on the order of the input.
			rev := slices.Clone(order)
			slices.Reverse(rev)
			if g, _ := tc.run(t, rev); !slices.Equal(g, got) {
				t.Errorf("reversed input gives other alerts:\n%s", strings.Join(g, "\n"))
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range 3 {
				sh := slices.Clone(order)
				rng.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
				if g, _ := tc.run(t, sh); !slices.Equal(g, got) {
					t.Errorf("shuffled input %v gives other alerts:\n%s", sh, strings.Join(g, "\n"))
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	src := `title: base
id: base-1
name: base_rule
logsource: {product: test}
detection:
    sel: {a: 1}
    condition: sel
---
title: missing ref
correlation:
    type: event_count
    rules:
        - base_rule
        - nope
    group-by: [x]
    timespan: 1m
    condition: {gte: 2}
---
title: cycle a
name: cyc_a
correlation:
    type: temporal
    rules: [cyc_b, base_rule]
    group-by: [x]
    timespan: 1m
---
title: cycle b
name: cyc_b
correlation:
    type: temporal
    rules: [cyc_a, base_rule]
    group-by: [x]
    timespan: 1m
---
title: bad alias
correlation:
    type: temporal
    rules: [base_rule]
    group-by: [x]
    timespan: 1m
    aliases:
        x:
            other_rule: y
`
	f, errs := sigma.Parse("c.yml", []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	set, cerrs := correlate.Compile(f.Correlations, f.Rules)
	if set.Len() != 0 {
		t.Errorf("compiled %d correlations, want 0", set.Len())
	}
	var msgs []string
	for _, e := range cerrs {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`c.yml:14:11: correlation "missing ref" refers to "nope"`,
		`reference cycle`,
		`names "other_rule", which is not one of its rules`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("errors lack %q:\n%s", want, all)
		}
	}
}

func TestMaxGroupsEvicts(t *testing.T) {
	tc := loadCase(t, "testdata/event_count")
	var dec jsonl.Decoder
	ev := event.New(tc.eng.Schema())
	p := correlate.NewProcessor(tc.set, correlate.Options{MaxGroups: 2})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		line := fmt.Sprintf(`{"@timestamp":%q,"action":"login_failed","user":"u%d"}`, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i)
		if err := jsonl.DecodeEvent(&dec, []byte(line), ev); err != nil {
			t.Fatal(err)
		}
		rules, _ := tc.eng.Match(ev, nil)
		for _, r := range rules {
			ae := alert.FromEvent(ev)
			p.Process(correlate.Match{Rule: r.Sigma, Time: ev.Time, Seq: uint64(i), Event: ae})
		}
	}
	st := p.Stats()
	if st.Open != 2 || st.Evicted != 8 || st.MaxOpen != 2 {
		t.Errorf("stats %+v: want 2 open, 8 evicted", st)
	}
}

func TestReorderer(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &correlate.Reorderer{Lateness: 10 * time.Second}
	var got []int
	out := func(m correlate.Match) { got = append(got, int(m.Seq)) }
	for i, off := range []int{5, 1, 3, 20, 12, 30, 2, 40} {
		r.Add(correlate.Match{Time: base.Add(time.Duration(off) * time.Second), Seq: uint64(i)}, out)
	}
	r.Flush(out)
	// offsets 1 3 5 released when 20 arrives; 12 20 when 30 arrives; 2 is
	// late (after 12 was released) and passes at once.
	want := []int{1, 2, 0, 4, 3, 6, 5, 7}
	if !slices.Equal(got, want) || r.Late != 1 {
		t.Errorf("got %v late %d, want %v late 1", got, r.Late, want)
	}
}

// compileYAML parses rules and correlations from src (named name in
// errors) and compiles the correlations, failing the test on any error.
func compileYAML(t testing.TB, name, src string) (*sigma.File, *correlate.Set) {
	t.Helper()
	f, errs := sigma.Parse(name, []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	set, cerrs := correlate.Compile(f.Correlations, f.Rules)
	if len(cerrs) > 0 {
		t.Fatal(cerrs)
	}
	return f, set
}
