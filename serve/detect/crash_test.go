package detect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/internal/natstest"
	"github.com/vigil-detect/vigil/serve/detect"
	"github.com/vigil-detect/vigil/serve/sink"
)

// Environment of a child worker (TestMain runs it instead of the tests).
const (
	envChildURL      = "VIGIL_DETECT_CHILD_URL"
	envChildName     = "VIGIL_DETECT_CHILD_NAME"
	envChildFailover = "VIGIL_DETECT_CHILD_FAILOVER"
	envChildFile     = "VIGIL_DETECT_CHILD_ALERTS_FILE"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(envChildURL); url != "" {
		os.Exit(childWorker(url))
	}
	os.Exit(m.Run())
}

// childWorker runs a detection worker against an external NATS server
// until SIGTERM, as vigil serve --no-ingest would: the process the crash
// and scale-out tests kill.
func childWorker(url string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	failover, err := time.ParseDuration(os.Getenv(envChildFailover))
	if err != nil {
		log.Error("failover", "err", err)
		return 2
	}
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		log.Error("connect", "err", err)
		return 1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Error("jetstream", "err", err)
		return 1
	}
	rules, err := compileRules(true, "testdata/rules")
	if err != nil {
		log.Error("rules", "err", err)
		return 1
	}
	w, err := detect.New(ctx, js, rules, detect.Options{Failover: failover, SnapshotInterval: 250 * time.Millisecond,
		Name: os.Getenv(envChildName), Logger: log, Replicas: replicasOf(ctx, js)})
	if err != nil {
		log.Error("worker", "err", err)
		return 1
	}
	var sinkDone chan error
	if path := os.Getenv(envChildFile); path != "" {
		f, err := sink.OpenFile(path, 64<<10)
		if err != nil {
			log.Error("alerts file", "err", err)
			return 1
		}
		defer f.Close()
		sinkDone = make(chan error, 1)
		go func() { sinkDone <- sink.Run(ctx, js, "file", f, sink.Options{Logger: log, AckWait: failover}) }()
	}
	if err := w.Run(ctx); err != nil {
		log.Error("run", "err", err)
		return 1
	}
	if sinkDone != nil {
		if err := <-sinkDone; err != nil {
			log.Error("alerts file", "err", err)
			return 1
		}
	}
	return 0
}

// replicasOf returns the events stream's replicas, for the state buckets.
func replicasOf(ctx context.Context, js jetstream.JetStream) int {
	s, err := js.Stream(ctx, detect.EventsStream)
	if err != nil {
		return 1
	}
	return s.CachedInfo().Config.Replicas
}

// child is a worker process.
type child struct {
	cmd  *exec.Cmd
	name string
	log  *bytes.Buffer
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func startChild(t *testing.T, url, name string, failover time.Duration, log *bytes.Buffer, mu *sync.Mutex, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildURL+"="+url, envChildName+"="+name, envChildFailover+"="+failover.String())
	cmd.Env = append(cmd.Env, env...)
	w := &lockedBuffer{mu: mu, b: log}
	cmd.Stderr, cmd.Stdout = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &child{cmd: cmd, name: name, log: log}
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

func (c *child) term() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	return c.cmd.Wait()
}

// workload generates a fleet's events: per host, every 8 s of event time,
// a cmd.exe start (from Word or Explorer, with /c and a script or not),
// zero to three connections of it within 14 s to public or private
// addresses, and noise; shuffled within 10 s, then one tick per host.
func workload(t testing.TB, hosts, episodes int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 7))
	var lines []string
	ips := []string{"8.8.8.8", "185.199.110.153", "10.1.2.3", "1.1.1.1", "192.168.1.1", "93.184.216.34"}
	for e := range episodes {
		for h := range hosts {
			host := fmt.Sprintf("fin-ws-%03d.corp.example", h)
			base := float64(e)*8 + rng.Float64()*4
			g := fmt.Sprintf("{%d-%d}", h, e)
			parent := word
			if rng.IntN(3) == 0 {
				parent = `C:\Windows\explorer.exe`
			}
			cl := bat
			if rng.IntN(4) == 0 {
				cl = `cmd.exe /k dir`
			}
			lines = append(lines, start(host, base, g, cmdExe, cl, parent))
			for k := range rng.IntN(4) {
				lines = append(lines, conn(host, base+1+float64(k)*4+rng.Float64()*3, g, cmdExe, ips[rng.IntN(len(ips))]))
			}
			lines = append(lines, ev(host, base+rng.Float64()*8, map[string]any{"EventID": 1, "ProcessGuid": g + "n", "Image": `C:\Windows\System32\svchost.exe`, "CommandLine": "svchost.exe -k netsvcs"}))
		}
	}
	lines = shuffleWithin(t, lines, 10*time.Second, rng)
	return append(lines, ticks(t, lines)...)
}

// expectedIDs runs vigil hunt over the events (one uninterrupted run) and
// returns its alerts' ids.
func expectedIDs(t testing.TB, r *detect.Rules, lines []string) map[string]bool {
	ids := map[string]bool{}
	var out collect
	opts := huntOptions(r)
	if _, err := huntRun(r, writeLines(t, lines), &out, opts); err != nil {
		t.Fatal(err)
	}
	for _, a := range out.alerts {
		id, err := detect.AlertID(a)
		if err != nil {
			t.Fatal(err)
		}
		if ids[id] {
			t.Fatalf("two alerts of one hunt with id %s", id)
		}
		ids[id] = true
	}
	return ids
}

// checkAlerts requires the alerts stream to hold each expected id once and
// nothing else.
func checkAlerts(t *testing.T, ctx context.Context, js jetstream.JetStream, want map[string]bool) {
	t.Helper()
	raw, err := readAlerts(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, b := range raw {
		var a struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
		got[a.ID]++
	}
	var missing, extra, twice []string
	for id := range want {
		if got[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range got {
		if !want[id] {
			extra = append(extra, id)
		}
		if n > 1 {
			twice = append(twice, id)
		}
	}
	if len(missing)+len(extra)+len(twice) > 0 {
		t.Errorf("alerts stream: %d alerts, %d expected: %d missing, %d unexpected, %d twice", len(raw), len(want), len(missing), len(extra), len(twice))
	}
}

// TestCrash kills a worker process with SIGKILL at random moments while
// events stream in and restarts it: afterwards every stored event has been
// evaluated once into the saved state, and the alerts stream holds exactly
// the alerts of one uninterrupted run (vigil hunt over the same events),
// none twice.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	rules := loadRules(t, true, "testdata/rules")
	lines := workload(t, 40, 40, 1)
	want := expectedIDs(t, rules, lines)
	t.Logf("%d alerts expected", len(want))
	if len(want) < 200 {
		t.Fatalf("the workload gives %d alerts: too few to tell", len(want))
	}
	srv := natstest.Start(t, t.TempDir())
	_, js := connect(t, srv.ClientURL())
	const n = 8
	if err := createStreams(ctx, js, n, 1); err != nil {
		t.Fatal(err)
	}
	const failover = 2 * time.Second
	var mu sync.Mutex
	var logs bytes.Buffer
	defer func() {
		if t.Failed() {
			mu.Lock()
			t.Logf("worker logs:\n%s", tail(logs.String(), 60))
			mu.Unlock()
		}
	}()
	alertsFile := filepath.Join(t.TempDir(), "alerts.jsonl")
	fileEnv := envChildFile + "=" + alertsFile
	c := startChild(t, srv.ClientURL(), "w", failover, &logs, &mu, fileEnv)
	// Publish over ~12 s while killing the worker 6 times.
	const publishFor = 12 * time.Second
	pubDone := publishPaced(ctx, js, n, lines, 50, publishFor)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := make([]time.Duration, 6)
	for i := range kills {
		kills[i] = time.Duration(500+rng.IntN(int(publishFor/time.Millisecond)+2000)) * time.Millisecond
	}
	slices.Sort(kills)
	began := time.Now()
	for i, at := range kills {
		time.Sleep(time.Until(began.Add(at)))
		c.kill()
		t.Logf("SIGKILL %d at %v", i+1, at.Round(time.Millisecond))
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		c = startChild(t, srv.ClientURL(), "w", failover, &logs, &mu, fileEnv)
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("published %d events in %v", len(lines), time.Since(began).Round(time.Millisecond))
	waitCommitted(t, ctx, js, n, int64(len(lines)), 60*time.Second)
	t.Logf("all evaluated %v after the start", time.Since(began).Round(time.Millisecond))
	checkAlerts(t, ctx, js, want)
	// The alerts file: every alert once, across its rotations.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, lines, err := fileIDs(alertsFile)
		if err != nil {
			t.Fatal(err)
		}
		if lines >= len(want) || time.Now().After(deadline) {
			var missing, extra int
			for id := range want {
				if got[id] == 0 {
					missing++
				}
			}
			twice := 0
			for id, n := range got {
				if !want[id] {
					extra++
				}
				if n > 1 {
					twice++
				}
			}
			rotated, _ := filepath.Glob(alertsFile + ".*")
			t.Logf("alerts file: %d lines in %d files", lines, len(rotated)+1)
			if missing+extra+twice > 0 {
				t.Errorf("alerts file: %d lines, %d expected alerts: %d missing, %d unexpected, %d twice", lines, len(want), missing, extra, twice)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.term(); err != nil {
		t.Errorf("worker after SIGTERM: %v", err)
	}
}

// fileIDs counts the ids in an alerts file and its rotations.
func fileIDs(path string) (map[string]int, int, error) {
	files, _ := filepath.Glob(path + ".*")
	files = append(files, path)
	ids := map[string]int{}
	lines := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, 0, err
		}
		for l := range bytes.Lines(data) {
			var a struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(l, &a); err != nil {
				return nil, 0, fmt.Errorf("%s: %w: %q", f, err, l)
			}
			ids[a.ID]++
			lines++
		}
	}
	return ids, lines, nil
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
