//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	lumber "github.com/elastic/go-lumber/client/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/serve/broker"
	"github.com/vigil-detect/vigil/serve/detect"
	"github.com/vigil-detect/vigil/serve/partition"
	"github.com/vigil-detect/vigil/serve/streams"
)

// crashEvents generates a fleet's Sysmon events in event-time order
// (shuffled within 5 s): per host, every 8 s, a cmd.exe start from Word
// or Explorer, zero to three connections of it within 13 s, and noise.
func crashEvents(hosts, episodes int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 3))
	t0 := time.Date(2026, 3, 4, 9, 15, 0, 0, time.UTC)
	type ev struct {
		at   time.Time
		line string
	}
	var evs []ev
	add := func(host string, sec float64, m map[string]any) {
		at := t0.Add(time.Duration(sec * float64(time.Second)))
		m["Channel"], m["Computer"], m["@timestamp"] = "Microsoft-Windows-Sysmon/Operational", host, at.Format(time.RFC3339Nano)
		b, _ := json.Marshal(m)
		evs = append(evs, ev{at.Add(time.Duration(rng.Int64N(int64(5 * time.Second)))), string(b)})
	}
	ips := []string{"8.8.8.8", "185.199.110.153", "10.1.2.3", "1.1.1.1", "192.168.1.1"}
	for e := range episodes {
		for h := range hosts {
			host := fmt.Sprintf("ws-%03d.corp.example", h)
			base := float64(e)*8 + rng.Float64()*3
			g := fmt.Sprintf("{%d-%d}", h, e)
			parent := `C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE`
			if rng.IntN(3) == 0 {
				parent = `C:\Windows\explorer.exe`
			}
			add(host, base, map[string]any{"EventID": 1, "ProcessGuid": g, "ProcessId": 7212, "Image": `C:\Windows\System32\cmd.exe`,
				"OriginalFileName": "Cmd.Exe", "CommandLine": `cmd.exe /c "C:\Users\jdoe\AppData\Local\Temp\update.bat"`, "ParentImage": parent})
			for k := range rng.IntN(4) {
				add(host, base+1+float64(k)*4+rng.Float64()*2, map[string]any{"EventID": 3, "ProcessGuid": g, "ProcessId": 7212,
					"Image": `C:\Windows\System32\cmd.exe`, "DestinationIp": ips[rng.IntN(len(ips))], "DestinationPort": 443, "Protocol": "tcp"})
			}
			add(host, base+rng.Float64()*8, map[string]any{"EventID": 1, "ProcessGuid": g + "n", "Image": `C:\Windows\System32\svchost.exe`, "CommandLine": "svchost.exe -k netsvcs"})
		}
	}
	slices.SortFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
	var lines []string
	for _, e := range evs {
		lines = append(lines, e.line)
	}
	// One event per host an hour later: every window closes.
	for h := range hosts {
		b, _ := json.Marshal(map[string]any{"@timestamp": t0.Add(time.Hour).Format(time.RFC3339Nano), "Channel": "Application", "EventID": 9999,
			"Computer": fmt.Sprintf("ws-%03d.corp.example", h)})
		lines = append(lines, string(b))
	}
	return lines
}

// huntIDs runs vigil hunt over the lines and returns its alerts' ids (one
// uninterrupted run).
func huntIDs(t *testing.T, lines []string, args ...string) map[string]bool {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	if code := Main(context.Background(), append(append([]string{"hunt", "-q", "--format", "jsonl"}, args...), path),
		Env{Stdout: &out, Stderr: &stderr}); code != 0 {
		t.Fatalf("vigil hunt: exit %d\n%s", code, stderr.String())
	}
	ids := map[string]bool{}
	for l := range bytes.Lines(out.Bytes()) {
		var a alert.Alert
		d := json.NewDecoder(bytes.NewReader(l))
		d.UseNumber() // fields keep their JSON text, as serve reads them
		if err := d.Decode(&a); err != nil {
			t.Fatal(err)
		}
		id, err := detect.AlertID(&a)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	return ids
}

// sendHTTP posts events as NDJSON until they are all accepted.
func sendHTTP(base string, lines []string) error {
	resp, err := http.Post(base+"/v1/events", "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Accepted int
		Rejected []any
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return err
	}
	if resp.StatusCode != 200 || r.Accepted != len(lines) {
		return fmt.Errorf("HTTP %d: %d of %d accepted, rejected %v", resp.StatusCode, r.Accepted, len(lines), r.Rejected)
	}
	return nil
}

// sendBeats sends events over the Beats protocol until they are all
// acknowledged.
func sendBeats(addr string, lines []string) error {
	cl, err := lumber.SyncDial(addr, lumber.Timeout(5*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	batch := make([]any, len(lines))
	for i, l := range lines {
		batch[i] = json.RawMessage(l)
	}
	for len(batch) > 0 {
		n, err := cl.Send(batch)
		if err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// TestServeCrash is the crash test of vigil serve itself: a child vigil
// serve (embedded NATS, HTTP and Beats inputs, the alerts file) is killed
// with SIGKILL at five random moments while events stream in, alternately
// over HTTP and Beats, each batch sent again until acknowledged, and
// restarted on the same data directory. Afterwards the events evaluated
// into the saved detection state are exactly the events acknowledged, and
// the alerts stream and the alerts file each hold exactly the alert ids of
// one uninterrupted run (vigil hunt on the same events), none twice.
func TestServeCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	bin := vigilBinary(t)
	dir := t.TempDir()
	data, alertsFile := filepath.Join(dir, "data"), filepath.Join(dir, "alerts.jsonl")
	httpAddr, beatsAddr := freeAddr(t), freeAddr(t)
	base := "http://" + httpAddr
	rules := []string{"-r", "../serve/detect/testdata/rules", "--builtin"}
	lines := crashEvents(30, 10, 1) // 30 hosts: see below
	want := huntIDs(t, lines, rules...)
	if len(want) < 100 {
		t.Fatalf("%d alerts expected: too few to tell", len(want))
	}

	var logs syncBuffer
	defer func() {
		if t.Failed() {
			t.Logf("vigil serve logs:\n%s", tail(logs.String(), 4000))
		}
	}()
	start := func() *exec.Cmd {
		args := append([]string{"serve", "--data-dir", data, "--http", httpAddr, "--beats", beatsAddr, "--nats-listen", "",
			"--failover", "2s", "--alerts-file", alertsFile, "--alerts-file-max-bytes", "65536", "--stdout", "never"}, rules...)
		cmd := exec.Command(bin, args...)
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	var mu sync.Mutex
	cmd := start()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	// The sender: batches of 20 in order, alternately HTTP and Beats, each
	// sent until acknowledged, over about 14 s.
	// The hosts' last events go in batches of their own: events of one
	// batch are stored in any order.
	const hosts, size = 30, 20
	var batches [][]string
	for i := 0; i < len(lines)-hosts; i += size {
		batches = append(batches, lines[i:min(i+size, len(lines)-hosts)])
	}
	batches = append(batches, lines[len(lines)-hosts:])
	sent := make(chan error, 1)
	go func() {
		pause := 14 * time.Second / time.Duration(len(batches))
		for b, batch := range batches {
			deadline := time.Now().Add(60 * time.Second)
			for {
				var err error
				if b%2 == 0 {
					err = sendHTTP(base, batch)
				} else {
					err = sendBeats(beatsAddr, batch)
				}
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					sent <- fmt.Errorf("batch %d not acknowledged within 60 s: %w", b, err)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(pause)
		}
		sent <- nil
	}()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	began := time.Now()
	at := time.Second
	for k := range 5 {
		at += time.Duration(1500+rng.IntN(1000)) * time.Millisecond
		time.Sleep(time.Until(began.Add(at)))
		mu.Lock()
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		t.Logf("SIGKILL %d at %v", k+1, time.Since(began).Round(time.Millisecond))
		cmd = start()
		mu.Unlock()
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events acknowledged in %v", len(lines), time.Since(began).Round(time.Millisecond))
	// Wait for the alerts file to hold what is expected, then stop.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		files, _ := filepath.Glob(alertsFile + "*")
		for _, f := range files {
			b, _ := os.ReadFile(f)
			n += bytes.Count(b, []byte("\n"))
		}
		if n >= len(want) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // anything more would show now
	mu.Lock()
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	mu.Unlock()
	if err != nil {
		t.Errorf("vigil serve after SIGTERM: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Evaluated == acknowledged: every event once in the saved state.
	stored := 0
	es, err := b.JS.Stream(ctx, streams.Events)
	if err != nil {
		t.Fatal(err)
	}
	info, err := es.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for q := info.State.FirstSeq; q <= info.State.LastSeq; q++ {
		m, err := es.GetMsg(ctx, q)
		if err != nil {
			continue
		}
		if _, ok := partition.Parse(m.Subject, 16); ok {
			stored += bytes.Count(bytes.TrimSpace(m.Data), []byte("\n")) + 1
		}
	}
	kv, err := b.JS.KeyValue(ctx, detect.StateBucket)
	if err != nil {
		t.Fatal(err)
	}
	var evaluated int64
	for p := range 16 {
		e, err := kv.Get(ctx, "p"+strconv.Itoa(p))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var ptr struct {
			Counts struct{ Evaluated int64 } `json:"counts"`
		}
		json.Unmarshal(e.Value(), &ptr)
		evaluated += ptr.Counts.Evaluated
	}
	if stored != len(lines) || evaluated != int64(len(lines)) {
		t.Errorf("%d events acknowledged, %d stored, %d evaluated", len(lines), stored, evaluated)
	}
	// The alerts stream and the alerts file: the expected ids, once.
	as, err := b.JS.Stream(ctx, streams.Alerts)
	if err != nil {
		t.Fatal(err)
	}
	ainfo, err := as.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var inStream []string
	for q := ainfo.State.FirstSeq; ainfo.State.Msgs > 0 && q <= ainfo.State.LastSeq; q++ {
		m, err := as.GetMsg(ctx, q)
		if err != nil {
			continue
		}
		inStream = append(inStream, m.Header.Get(jetstream.MsgIDHeader))
	}
	var inFile []string
	files, _ := filepath.Glob(alertsFile + "*")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inFile = append(inFile, idsOf(t, string(data))...)
	}
	for name, ids := range map[string][]string{"alerts stream": inStream, "alerts file": inFile} {
		seen := map[string]int{}
		for _, id := range ids {
			seen[id]++
		}
		missing, extra, twice := 0, 0, 0
		for id := range want {
			if seen[id] == 0 {
				missing++
			}
		}
		for id, n := range seen {
			if !want[id] {
				extra++
			}
			if n > 1 {
				twice++
			}
		}
		if missing+extra+twice > 0 {
			t.Errorf("%s: %d alerts, %d expected: %d missing, %d unexpected, %d twice", name, len(ids), len(want), missing, extra, twice)
		}
	}
	t.Logf("%d events, %d alerts in the stream, %d in %d alerts files", len(lines), len(inStream), len(inFile), len(files))
}
