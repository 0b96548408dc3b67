package advisory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// stream runs lines as a streaming service does: each event matched as it
// arrives (process starts recorded at once), the matches of correlated
// rules put back in time order by a Reorderer with the lateness, released
// as the watermark (the newest event time minus the lateness) follows
// every event, then correlated with the advisory's identity. It returns the alerts by title
// and the most process starts the identity held at once.
func (r *rig) stream(t *testing.T, lines []string, lateness time.Duration) (map[string]int, int) {
	t.Helper()
	en := advisory.NewEnricher()
	en.Identity().Lateness = lateness
	n := map[string]int{}
	p := correlate.NewProcessor(r.set, correlate.Options{Enrich: en.Enrich, Identity: en.Identity(),
		Emit: func(a *alert.Alert) { n[a.Rule.Title]++ }})
	ro := &correlate.Reorderer{Lateness: lateness}
	var d jsonl.Decoder
	m := r.eng.NewMatcher()
	ev := event.New(r.eng.Schema())
	held := 0
	var newest time.Time
	for i, l := range lines {
		if err := jsonl.DecodeEvent(&d, []byte(l), ev); err != nil {
			t.Fatal(err)
		}
		ev.Source = event.Source{Path: "stream", Line: int64(i + 1)}
		r.norm.Apply(ev)
		rules, err := m.Match(ev, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, rr := range rules {
			if advisory.IsContextRule(rr.Sigma) {
				en.Record(advisory.ProcessOf(ev))
				continue
			}
			if r.set.Feeds(rr.Sigma) {
				ro.Add(correlate.MatchFromAlert(rr.Sigma, hunt.NewAlert(rr, ev), uint64(i)), p.Process)
			}
		}
		if ev.Time.After(newest) {
			newest = ev.Time
		}
		ro.Release(newest.Add(-lateness), p.Process)
		p.Advance(newest.Add(-lateness))
		held = max(held, en.Identity().Held())
	}
	ro.Flush(p.Process)
	p.Flush()
	return n, held
}

// TestStreamingIdentity: the identity works event by event behind a
// watermark reorderer (events arriving out of order within the lateness),
// and holds process starts only for its horizon: a day-long stream of
// process starts keeps a bounded number of them.
func TestStreamingIdentity(t *testing.T) {
	r := newRig(t)
	bat := `cmd.exe /c "C:\Users\jdoe\AppData\Local\Temp\upd.bat"`
	cmdProc := proc{host1, "{3f0c9a51-f8a4-65e5-2a07-000000002c00}", 6700}
	notepad := proc{host1, "{3f0c9a51-f8b0-65e5-2c07-000000002c00}", 6700}
	const np = `C:\Windows\System32\notepad.exe`
	for _, c := range []struct {
		name  string
		lines []string
		want  int
	}{
		{"sysmon 1 then 5156, the connection arriving first", []string{
			securityFlat.conn(2, cmdProc, cmdExe, "185.199.110.153"),
			sysmonEvtxDump.start(0, cmdProc, cmdExe, bat, word)}, 1},
		{"4688 then sysmon 3", []string{
			securityFlat.start(0, cmdProc, cmdExe, bat, word),
			sysmonEvtxDump.conn(2, cmdProc, cmdExe, "185.199.110.153")}, 1},
		{"reuse arriving after the connection", []string{
			securityFlat.start(0, cmdProc, cmdExe, bat, word),
			sysmonEvtxDump.conn(4, notepad, cmdExe, "185.199.110.153"),
			securityFlat.start(3, notepad, np, np, `C:\Windows\explorer.exe`)}, 0},
		{"both logs, both events, out of order", []string{
			securityFlat.conn(2.402, cmdProc, cmdExe, "185.199.110.153"),
			securityFlat.start(0.003, cmdProc, cmdExe, bat, word),
			sysmonEvtxDump.conn(2.4, cmdProc, cmdExe, "185.199.110.153"),
			sysmonEvtxDump.start(0, cmdProc, cmdExe, bat, word)}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, _ := r.stream(t, c.lines, 5*time.Second)
			if n[script] != c.want || n[office] != c.want {
				t.Errorf("script %d office %d, want %d each", n[script], n[office], c.want)
			}
		})
	}

	// A start a second for six hours, pids reused every 500 starts, and
	// the attack at 3 h.
	var lines []string
	const hours = 6
	for i := range hours * 3600 {
		if i == 3*3600 {
			lines = append(lines, securityFlat.start(float64(i), cmdProc, cmdExe, bat, word),
				sysmonEvtxDump.conn(float64(i)+2, cmdProc, cmdExe, "185.199.110.153"))
			continue
		}
		p := proc{host1, fmt.Sprintf("{3f0c9a51-0000-0000-%04x-000000002c00}", i), 8000 + 4*(i%500)}
		lines = append(lines, sysmonEvtxDump.start(float64(i), p, np, np, `C:\Windows\explorer.exe`))
	}
	n, held := r.stream(t, lines, 5*time.Second)
	if n[script] != 1 || n[office] != 1 {
		t.Errorf("long stream: script %d office %d, want 1 each", n[script], n[office])
	}
	// the horizon (60 s) plus the lateness (5 s) of starts, one a second
	if held > 70 {
		t.Errorf("held %d process starts at once, want at most 70 (horizon + lateness)", held)
	}
}
