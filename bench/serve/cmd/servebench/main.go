// Command servebench measures vigil serve as a service on this machine: a
// child `vigil serve` with the SigmaHQ Windows rules receives the OTRF
// events of the shared corpus over HTTP or the Beats protocol.
//
// For each input it measures, in order:
//
//   - sustained throughput: clients send as fast as vigil acknowledges for
//     -duration, then the run goes on until detection has evaluated every
//     acknowledged event; the rate is acknowledged events over the whole
//     time (sending plus catching up), so ingest cannot outrun detection;
//   - latency at half that rate: events sent open-loop at a fixed rate,
//     end-to-end latency of each alert from the moment its event was sent
//     to the moment the alert is delivered by NATS from the alerts stream
//     (single-event rules; correlations wait for --max-lateness besides);
//   - memory: the child's peak and final resident set size.
//
// Each event gets a "bench_seq" field (so that events are distinct and an
// alert can be traced to the send time of its event) and, with -hosts N,
// its Hostname is spread over N hosts as a fleet would send it.
//
//	cd bench && go run ./serve/cmd/servebench -duration 20s
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	lumber "github.com/elastic/go-lumber/client/v2"
	"github.com/nats-io/nats.go"

	sigmabench "github.com/vigil-detect/vigil/bench/sigma"
)

var (
	flagRules    = flag.String("rules", "", "rules folder (default: the corpus's SigmaHQ rules/windows)")
	flagEvents   = flag.String("events", "", "event files glob (default: the corpus's OTRF host JSON Lines)")
	flagDuration = flag.Duration("duration", 20*time.Second, "sending time of each measurement")
	flagInputs   = flag.String("inputs", "http,beats", "inputs to measure")
	flagClients  = flag.Int("clients", 4, "concurrent senders")
	flagBatch    = flag.Int("batch", 1000, "events per request or Beats batch")
	flagHosts    = flag.Int("hosts", 200, "spread the events over this many hosts (0: keep the corpus's)")
	flagVigil    = flag.String("vigil", "", "vigil binary (default: built from ../ into a temporary folder)")
	flagProfile  = flag.String("cpuprofile", "", "pass --cpuprofile FILE to vigil serve")
	flagExtra    = flag.String("serve-flags", "", "more flags for vigil serve, space-separated (e.g. --no-detect)")
	flagRate     = flag.Float64("latency-rate", 0, "events/s of the latency measurement (default: half the sustained rate)")
)

type events struct {
	lines [][]byte
	// hostEnd is, per line, the offset of the closing quote of its
	// Hostname value (0: none).
	hostEnd []int
}

func newEvents(lines [][]byte) *events {
	re := regexp.MustCompile(`"Hostname":"[^"]*"`)
	e := &events{lines: lines, hostEnd: make([]int, len(lines))}
	for i, l := range lines {
		if loc := re.FindIndex(l); loc != nil {
			e.hostEnd[i] = loc[1] - 1
		}
	}
	return e
}

var seq atomic.Int64

// next returns the i-th event made distinct: {"bench_seq":N, ...} with its
// Hostname spread over -hosts.
func (e *events) next() ([]byte, int64) {
	n := seq.Add(1)
	i := int(n) % len(e.lines)
	l := e.lines[i]
	out := make([]byte, 0, len(l)+32)
	out = append(out, `{"bench_seq":`...)
	out = strconv.AppendInt(out, n, 10)
	out = append(out, ',')
	if end := e.hostEnd[i]; *flagHosts > 0 && end > 0 {
		out = append(out, l[1:end]...)
		out = append(out, '-')
		out = strconv.AppendInt(out, n%int64(*flagHosts), 10)
		out = append(out, l[end:]...)
	} else {
		out = append(out, l[1:]...)
	}
	return out, n
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "servebench:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := sigmabench.CorpusDir()
	if *flagRules == "" {
		*flagRules = sigmabench.DefaultRules(dir)
	}
	if *flagEvents == "" {
		*flagEvents = sigmabench.DefaultEvents(dir)
	}
	ev, err := sigmabench.LoadEvents(*flagEvents)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "servebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := *flagVigil
	if bin == "" {
		bin = filepath.Join(tmp, "vigil")
		build := exec.Command("go", "build", "-o", bin, "./cmd/vigil")
		build.Dir = ".." // the main module, from bench/
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	evs := newEvents(ev.Lines)
	fmt.Printf("rules %s\nevents %d distinct lines (%d bytes) from %s, spread over %d hosts\n", *flagRules, len(ev.Lines), ev.Bytes, *flagEvents, *flagHosts)
	fmt.Printf("clients %d, batch %d, sending %v per measurement\n\n", *flagClients, *flagBatch, *flagDuration)
	for _, in := range strings.Split(*flagInputs, ",") {
		if err := measure(bin, tmp, in, evs); err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
	}
	return nil
}

type child struct {
	cmd        *exec.Cmd
	base       string
	beats      string
	natsURL    string
	stderr     lockedBuffer
	exited     chan error
	readyAfter time.Duration
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startChild(bin, dataDir string) (*child, error) {
	c := &child{exited: make(chan error, 1)}
	httpAddr, beatsAddr, natsAddr := freeAddr(), freeAddr(), freeAddr()
	c.base, c.beats, c.natsURL = "http://"+httpAddr, beatsAddr, "nats://"+natsAddr
	c.cmd = exec.Command(bin, "serve", "-r", *flagRules, "--data-dir", dataDir, "--http", httpAddr, "--beats", beatsAddr,
		"--nats-listen", natsAddr, "--log-format", "json", "--log-level", "warn", "--max-body", strconv.Itoa(64<<20))
	c.cmd.Args = append(c.cmd.Args, strings.Fields(*flagExtra)...)
	if *flagProfile != "" {
		c.cmd.Args = append(c.cmd.Args, "--cpuprofile", *flagProfile)
	}
	c.cmd.Stderr = &c.stderr
	start := time.Now()
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.exited <- c.cmd.Wait() }()
	for time.Since(start) < 2*time.Minute {
		resp, err := http.Get(c.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				c.readyAfter = time.Since(start)
				return c, nil
			}
		}
		select {
		case err := <-c.exited:
			return nil, fmt.Errorf("vigil serve exited: %v\n%s", err, c.stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.cmd.Process.Kill()
	return nil, fmt.Errorf("vigil serve not ready after 2 minutes")
}

func (c *child) stop() error {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		return err
	case <-time.After(time.Minute):
		c.cmd.Process.Kill()
		return fmt.Errorf("no exit within a minute of SIGTERM")
	}
}

// memory returns the child's VmHWM and VmRSS in MiB.
func (c *child) memory() (peak, now float64) {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "VmHWM:":
				peak = kb / 1024
			case "VmRSS:":
				now = kb / 1024
			}
		}
	}
	return
}

// lockedBuffer is a bytes.Buffer the child writes its log to while the
// bench reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cpu returns the child's user + system CPU time.
func (c *child) cpu() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name in parentheses; utime and stime are
	// the 14th and 15th fields of the line.
	rest := string(data[bytes.LastIndexByte(data, ')')+2:])
	f := strings.Fields(rest)
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return time.Duration((ut + st) / 100 * float64(time.Second)) // USER_HZ = 100
}

// metrics returns the lines of the child's /metrics for the given names.
func (c *child) metrics(names ...string) string {
	resp, err := http.Get(c.base + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, n := range names {
			if strings.HasPrefix(l, n) {
				out = append(out, "    "+l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// metric sums a counter of the child's /metrics over its labels.
func (c *child) metric(name string) float64 {
	resp, err := http.Get(c.base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// sender sends one batch and reports how many events were acknowledged.
type sender func(batch [][]byte) (int, error)

func httpSender(c *child) func() sender {
	return func() sender {
		client := &http.Client{Timeout: time.Minute}
		return func(batch [][]byte) (int, error) {
			var body bytes.Buffer
			for _, l := range batch {
				body.Write(l)
				body.WriteByte('\n')
			}
			resp, err := client.Post(c.base+"/v1/events", "application/x-ndjson", &body)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				return 0, fmt.Errorf("status %d: %s", resp.StatusCode, b)
			}
			var r struct{ Accepted int }
			err = json.NewDecoder(resp.Body).Decode(&r)
			return r.Accepted, err
		}
	}
}

func beatsSender(c *child) func() sender {
	return func() sender {
		cl, err := lumber.SyncDial(c.beats, lumber.Timeout(time.Minute), lumber.JSONEncoder(func(v any) ([]byte, error) {
			return v.(json.RawMessage), nil
		}))
		if err != nil {
			return func([][]byte) (int, error) { return 0, err }
		}
		return func(batch [][]byte) (int, error) {
			evs := make([]any, len(batch))
			for i, l := range batch {
				evs[i] = json.RawMessage(l)
			}
			return cl.Send(evs)
		}
	}
}

func measure(bin, tmp, input string, evs *events) error {
	c, err := startChild(bin, filepath.Join(tmp, "data-"+input))
	if err != nil {
		return err
	}
	var newSender func() sender
	switch input {
	case "http":
		newSender = httpSender(c)
	case "beats":
		newSender = beatsSender(c)
	default:
		c.stop()
		return fmt.Errorf("unknown input %q", input)
	}
	fmt.Printf("== %s (vigil ready in %v)\n", input, c.readyAfter.Round(10*time.Millisecond))

	// Sustained: as fast as acknowledged.
	var acked atomic.Int64
	var sendErr atomic.Value
	cpu0 := c.cpu()
	deadline := time.Now().Add(*flagDuration)
	start := time.Now()
	var wg sync.WaitGroup
	for range *flagClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send := newSender()
			batch := make([][]byte, *flagBatch)
			for time.Now().Before(deadline) {
				for i := range batch {
					batch[i], _ = evs.next()
				}
				n, err := send(batch)
				if err != nil {
					sendErr.Store(err)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				acked.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	sent := time.Since(start)
	total := float64(acked.Load())
	caughtUp := false
	for time.Since(start) < sent+2*time.Minute && !strings.Contains(*flagExtra, "--no-detect") {
		if c.metric("vigil_events_evaluated_total") >= total {
			caughtUp = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !caughtUp && !strings.Contains(*flagExtra, "--no-detect") {
		fmt.Printf("  NOT CAUGHT UP: detection evaluated %.0f of %.0f acknowledged events within 2 minutes; its metrics:\n%s\n",
			c.metric("vigil_events_evaluated_total"), total, c.metrics("vigil_consumer_lag", "vigil_partitions_owned", "vigil_events_evaluated_total", "vigil_partition_loads_total"))
		log := c.stderr.String()
		if len(log) > 4000 {
			log = log[len(log)-4000:]
		}
		fmt.Printf("  vigil's log (end):\n%s\n", log)
	}
	all := time.Since(start)
	cpu := c.cpu() - cpu0
	evaluated := c.metric("vigil_events_evaluated_total")
	sustained := total / all.Seconds()
	fmt.Printf("sustained: %.0f events acknowledged in %v (%.0f events/s acknowledged while sending); all evaluated after %v: %.0f events/s end to end (evaluated %.0f)\n",
		total, sent.Round(time.Millisecond), total/sent.Seconds(), all.Round(time.Millisecond), sustained, evaluated)
	fmt.Printf("vigil CPU time %v: %.0f events per vigil CPU-second; load average %s\n", cpu.Round(10*time.Millisecond), total/cpu.Seconds(), loadavg())
	if e := sendErr.Load(); e != nil {
		fmt.Printf("  (some sends failed and were retried: %v)\n", e)
	}
	peak, now := c.memory()
	fmt.Printf("memory after the sustained run: peak RSS %.0f MiB, RSS %.0f MiB\n", peak, now)

	// Latency at half the rate, open loop.
	rate := *flagRate
	if rate == 0 {
		rate = sustained / 2
	}
	if strings.Contains(*flagExtra, "--no-detect") {
		return c.stop()
	}
	lat, err := latency(c, newSender, evs, rate)
	if err != nil {
		c.stop()
		return err
	}
	fmt.Println(lat)
	peak, now = c.memory()
	fmt.Printf("memory at the end: peak RSS %.0f MiB, RSS %.0f MiB\n", peak, now)
	if err := c.stop(); err != nil {
		return fmt.Errorf("stopping vigil serve: %v\n%s", err, c.stderr.String())
	}
	fmt.Println()
	return nil
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func latency(c *child, newSender func() sender, evs *events, rate float64) (string, error) {
	nc, err := nats.Connect(c.natsURL)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	var mu sync.Mutex
	sentAt := map[int64]time.Time{}
	var lat []time.Duration
	var alerts, untraced int
	sub, err := nc.Subscribe("vigil.alerts.>", func(m *nats.Msg) {
		now := time.Now()
		var a struct {
			Rule   struct{ Type string }
			Events []struct {
				Fields map[string]any
			}
		}
		if json.Unmarshal(m.Data, &a) != nil || a.Rule.Type != "detection" || len(a.Events) == 0 {
			return
		}
		s, _ := a.Events[len(a.Events)-1].Fields["bench_seq"].(float64)
		mu.Lock()
		defer mu.Unlock()
		alerts++
		if t, ok := sentAt[int64(s)]; ok {
			lat = append(lat, now.Sub(t))
		} else {
			untraced++
		}
	})
	if err != nil {
		return "", err
	}
	defer sub.Unsubscribe()

	// Batches every 10 ms, or fewer per second at low rates.
	tick := 10 * time.Millisecond
	per := int(rate * tick.Seconds())
	if per < 1 {
		per = 1
		tick = time.Duration(float64(time.Second) / rate)
	}
	work := make(chan [][]byte, 1024)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range *flagClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send := newSender()
			for b := range work {
				if _, err := send(b); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	t := time.NewTicker(tick)
	end := time.Now().Add(*flagDuration)
	sentEvents := 0
	for now := range t.C {
		if now.After(end) {
			break
		}
		b := make([][]byte, per)
		mu.Lock()
		for i := range b {
			var s int64
			b[i], s = evs.next()
			sentAt[s] = now
		}
		mu.Unlock()
		sentEvents += per
		select {
		case work <- b:
		default:
			failed.Add(1) // senders behind: the rate is too high
		}
	}
	t.Stop()
	close(work)
	wg.Wait()
	time.Sleep(3 * time.Second) // the last alerts
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		return "", fmt.Errorf("latency: no alert traced (%d alerts)", alerts)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	return fmt.Sprintf("latency at %.0f events/s (%d events sent, %d batches failed or dropped): %d detection alerts traced, p50 %v, p99 %v, max %v",
		rate, sentEvents, failed.Load(), len(lat), q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond)), nil
}
