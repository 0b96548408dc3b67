//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	lumber "github.com/elastic/go-lumber/client/v2"

	"github.com/vigil-detect/vigil/serve/broker"
	"github.com/vigil-detect/vigil/serve/partition"
	"github.com/vigil-detect/vigil/serve/streams"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the binary vigilBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// vigilBinary builds cmd/vigil once for the tests that run it as a child
// process (removed by TestMain).
func vigilBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vigil")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/vigil").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(t *testing.T, base string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within %v", base, within)
}

// TestServeDrainOnSIGTERM runs vigil serve as a child process, streams
// events to it over HTTP and Beats, sends SIGTERM while requests are in
// flight, and checks that it exits 0 and that every event it acknowledged
// is in the events stream.
func TestServeDrainOnSIGTERM(t *testing.T) {
	bin := vigilBinary(t)
	dir := t.TempDir()
	httpAddr, beatsAddr := freeAddr(t), freeAddr(t)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(dir, "data"), "--http", httpAddr, "--beats", beatsAddr,
		"--nats-listen", "", "--log-format", "json", "--max-lateness", "1s")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	}()
	base := "http://" + httpAddr
	waitReady(t, base, 30*time.Second)

	var (
		mu    sync.Mutex
		acked = map[string]bool{} // event ids acknowledged
		seq   atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	event := func(src string) (string, map[string]any) {
		id := fmt.Sprintf("%s-%d", src, seq.Add(1))
		return id, map[string]any{"Computer": fmt.Sprintf("ws-%d.corp", seq.Load()%13), "EventID": 1, "EventRecordID": id,
			"UtcTime": "2026-03-04 09:15:09.481", "Image": `C:\Windows\System32\whoami.exe`}
	}
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				var body bytes.Buffer
				var ids []string
				for range 50 {
					id, ev := event(fmt.Sprintf("http%d", w))
					b, _ := json.Marshal(ev)
					body.Write(append(b, '\n'))
					ids = append(ids, id)
				}
				resp, err := http.Post(base+"/v1/events", "application/x-ndjson", &body)
				if err != nil {
					return // the server is gone
				}
				var r struct{ Accepted int }
				json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				if resp.StatusCode == 200 && r.Accepted == len(ids) {
					mu.Lock()
					for _, id := range ids {
						acked[id] = true
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		cl, err := lumber.SyncDial(beatsAddr, lumber.Timeout(20*time.Second))
		if err != nil {
			t.Error(err)
			return
		}
		defer cl.Close()
		for !stop.Load() {
			var batch []any
			var ids []string
			for range 100 {
				id, ev := event("beats")
				batch = append(batch, ev)
				ids = append(ids, id)
			}
			n, err := cl.Send(batch)
			if err != nil {
				return
			}
			mu.Lock()
			for _, id := range ids[:n] {
				acked[id] = true
			}
			mu.Unlock()
		}
	}()
	// Let some events through, then SIGTERM with requests in flight.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 2000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("vigil serve after SIGTERM: %v\n%s", err, tail(stderr.String(), 3000))
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("vigil serve did not exit within 60s of SIGTERM\n%s", tail(stderr.String(), 3000))
	}
	stop.Store(true)
	wg.Wait()
	if !strings.Contains(stderr.String(), `"msg":"draining"`) || !strings.Contains(stderr.String(), `"msg":"stopped","errors":0`) {
		t.Errorf("no drain in the log:\n%s", tail(stderr.String(), 3000))
	}

	// Every acknowledged event is in the events stream.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Options{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := b.JS.Stream(ctx, streams.Events)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for q := info.State.FirstSeq; q <= info.State.LastSeq; q++ {
		m, err := s.GetMsg(ctx, q)
		if err != nil {
			continue
		}
		if _, ok := partition.Parse(m.Subject, 16); !ok {
			continue
		}
		for _, l := range strings.Split(strings.TrimSpace(string(m.Data)), "\n") {
			var ev struct{ EventRecordID string }
			json.Unmarshal([]byte(l), &ev)
			stored[ev.EventRecordID] = true
		}
	}
	missing := 0
	for id := range acked {
		if !stored[id] {
			missing++
		}
	}
	if len(acked) == 0 || missing > 0 {
		t.Errorf("%d events acknowledged, %d of them not stored (%d stored)", len(acked), missing, len(stored))
	}
	t.Logf("%d events acknowledged before and during the drain, all stored", len(acked))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// TestReadmeServe runs the commands of README.md's "Run it as a service"
// with bash, changing only what lets it run beside other tests: the
// binary goes to a temporary folder, the data directory too, the HTTP
// port is a free one, and the embedded NATS server gets no listener.
func TestReadmeServe(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- serve-commands: run by TestReadmeServe")
	if !ok {
		t.Fatal(`README.md has no "serve-commands" marker`)
	}
	_, after, _ = strings.Cut(after, "```sh\n")
	script, _, ok := strings.Cut(after, "```")
	if !ok || !strings.Contains(script, "./vigil serve") {
		t.Fatalf("no command block after the marker: %q", script)
	}
	vigilBinary(t) // the script builds it again: from the cache
	dir := t.TempDir()
	addr := freeAddr(t)
	bin := filepath.Join(dir, "vigil")
	run := strings.NewReplacer(
		"-o vigil ", "-o "+bin+" ",
		"./vigil serve ", bin+" serve --nats-listen '' --http "+addr+" ",
		"vigil-data", filepath.Join(dir, "data"),
		"127.0.0.1:8470", addr,
	).Replace(script)
	// Then wait for the server's exit status.
	run += "wait %1\necho \"exit status $?\"\n"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", run)
	cmd.Dir = ".."
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		`{"accepted":6,"rejected":[]`,
		`"title":"Detect Command Prompt`,
		`"advisory":"VIGIL-2026-0001"`,
		"exit status 0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestServeStdinAndReload runs vigil serve in-process on the example rules
// with the example events on standard input, reads the alerts over HTTP,
// then reloads a broken rule set (refused, the running one stays) and a
// good one, and stops it by cancelling its context (exit 0).
func TestServeStdinAndReload(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	os.MkdirAll(rules, 0o700)
	for _, f := range []string{"net_connection_cmd_public.yml", "proc_creation_cmd_office_parent.yml"} {
		data, err := os.ReadFile(filepath.Join("../testdata/example/rules", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(rules, f), data, 0o600)
	}
	events, err := os.ReadFile("../testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	tokens := filepath.Join(dir, "tokens")
	os.WriteFile(tokens, []byte("t0k\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- Main(ctx, []string{"serve", "-r", rules, "--data-dir", filepath.Join(dir, "data"), "--http", addr,
			"--nats-listen", "", "--max-lateness", "1s", "--token-file", tokens, "-"}, Env{Stdin: bytes.NewReader(events), Stdout: io.Discard, Stderr: &stderr})
	}()
	base := "http://" + addr
	waitReady(t, base, 30*time.Second)
	do := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer t0k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get := func(path string) (int, string) { return do("GET", path) }
	post := func(path string) (int, string) { return do("POST", path) }
	// The example's single-event rules fire on the events read from stdin.
	deadline := time.Now().Add(30 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		_, body = get("/v1/alerts?wait=5s")
		if strings.Count(body, "\n") >= 2 {
			break
		}
	}
	for _, want := range []string{"Command Prompt Started by an Office Application", `"source":{"path":"stdin"`} {
		if !strings.Contains(body, want) {
			t.Errorf("alerts lack %q:\n%s", want, body)
		}
	}

	// A broken rule set is refused and the running one stays.
	os.WriteFile(filepath.Join(rules, "broken.yml"), []byte("title: broken\nlogsource: {product: windows}\ndetection:\n  sel: {Image|nosuchmodifier: x}\n  condition: sel\n"), 0o600)
	c, b := post("/v1/reload")
	if c != 422 || !strings.Contains(b, "broken.yml") {
		t.Errorf("broken reload: %d %s", c, b)
	}
	if c, _ := get("/readyz"); c != 200 {
		t.Errorf("readyz after a broken reload: %d", c)
	}
	os.Remove(filepath.Join(rules, "broken.yml"))
	os.Remove(filepath.Join(rules, "net_connection_cmd_public.yml"))
	c, b = post("/v1/reload")
	if c != 200 || !strings.Contains(b, "1 rules loaded") {
		t.Errorf("good reload: %d %s", c, b)
	}
	_, m := get("/metrics")
	if !strings.Contains(m, `vigil_rule_reloads_total{result="failed"} 1`) || !strings.Contains(m, `vigil_rule_reloads_total{result="ok"} 1`) ||
		!strings.Contains(m, `vigil_events_accepted_total{input="stdin"} 6`) {
		t.Errorf("metrics:\n%s", grepLines(m, "reloads", "stdin"))
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d:\n%s", c, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("vigil serve did not stop")
	}
}

func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
