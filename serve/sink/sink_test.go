package sink_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/internal/natstest"
	"github.com/vigil-detect/vigil/serve/sink"
)

func alertOf(id string) sink.Alert {
	return sink.Alert{ID: id, Data: []byte(`{"id":"` + id + `","rule":{"id":"r","title":"t","tags":[],"type":"detection"},"events":[]}`)}
}

func ids(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.Lines(string(data)) {
		out = append(out, strings.TrimSuffix(l, "\n")[7:9])
	}
	return out
}

func TestFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	f, err := sink.OpenFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.Deliver(ctx, []sink.Alert{alertOf("a1"), alertOf("b1")}))
	must(f.Deliver(ctx, []sink.Alert{alertOf("b1"), alertOf("c1")})) // b1 again after a crash
	must(f.Close())
	// A crash in the middle of a line.
	af, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(err)
	_, err = af.WriteString(`{"id":"d1","ru`)
	must(err)
	must(af.Close())
	f, err = sink.OpenFile(path, 0)
	must(err)
	must(f.Deliver(ctx, []sink.Alert{alertOf("c1"), alertOf("d1")}))
	must(f.Close())
	if got := strings.Join(ids(t, path), " "); got != "a1 b1 c1 d1" {
		t.Errorf("alerts file: %s, want a1 b1 c1 d1", got)
	}
}

func TestFileRotation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	size := int64(len(alertOf("a1").Data) + 1)
	f, err := sink.OpenFile(path, 3*size)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Deliver(ctx, []sink.Alert{alertOf("a1"), alertOf("a2"), alertOf("a3"), alertOf("a4")}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Reopened, the alerts of the rotated file are still known.
	f, err = sink.OpenFile(path, 3*size)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Deliver(ctx, []sink.Alert{alertOf("a2"), alertOf("a3"), alertOf("a4"), alertOf("a5")}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rotated, _ := filepath.Glob(path + ".*")
	if len(rotated) != 1 {
		t.Fatalf("rotated files %v, want 1", rotated)
	}
	if got := strings.Join(append(ids(t, rotated[0]), ids(t, path)...), " "); got != "a1 a2 a3 a4 a5" {
		t.Errorf("alerts: %s, want a1 a2 a3 a4 a5", got)
	}
}

// TestFileRotationsInOneBatch: a batch spanning several rotated files
// (small files, a crash before its acknowledgement) comes again whole;
// none of its alerts is written twice, in the same process or after a
// reopen.
func TestFileRotationsInOneBatch(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	size := int64(len(alertOf("a1").Data) + 1)
	var batch []sink.Alert
	for i := 1; i <= 7; i++ {
		batch = append(batch, alertOf(fmt.Sprintf("a%d", i)))
	}
	f, err := sink.OpenFile(path, 2*size)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // delivered again in the same process (a failed ack)
		if err := f.Deliver(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	f, err = sink.OpenFile(path, 2*size) // and after a crash
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Deliver(ctx, append(batch, alertOf("a8"))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rotated, _ := filepath.Glob(path + ".*")
	slices.Sort(rotated)
	if len(rotated) < 3 {
		t.Fatalf("rotated files %v: want the batch over several", rotated)
	}
	var all []string
	for _, r := range append(rotated, path) {
		all = append(all, ids(t, r)...)
	}
	if got := strings.Join(all, " "); got != "a1 a2 a3 a4 a5 a6 a7 a8" {
		t.Errorf("alerts: %s, want a1 ... a8 once each", got)
	}
}

func startNATS(t *testing.T) jetstream.JetStream {
	js := natstest.JetStream(t, natstest.Start(t, "").ClientURL())
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: sink.AlertsStream, Subjects: []string{"vigil.alerts.>"}, Duplicates: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	return js
}

// TestWebhook runs the webhook sink against a receiver that fails the
// first requests: every alert is POSTed until accepted, each accepted
// once; ids already delivered are not POSTed again.
func TestWebhook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := startNATS(t)
	var mu sync.Mutex
	accepted := map[string]int{}
	tries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		tries++
		if tries <= 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Idempotency-Key") == "" || !bytes.Contains(body, []byte(r.Header.Get("Vigil-Alert-Id"))) {
			t.Errorf("request without its alert id: %v %s", r.Header, body)
		}
		accepted[r.Header.Get("Vigil-Alert-Id")]++
	}))
	defer srv.Close()
	kv, err := sink.DeliveredBucket(ctx, js, "hook", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	// x0 was delivered before a crash: not POSTed again.
	if _, err := kv.Put(ctx, "x0", []byte("1")); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		a := alertOf(fmt.Sprintf("x%d", i))
		m := nats.NewMsg("vigil.alerts.high")
		m.Data = a.Data
		m.Header.Set(jetstream.MsgIDHeader, a.ID)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- sink.Run(rctx, js, "hook", &sink.Webhook{URL: srv.URL, Delivered: kv}, sink.Options{Batch: 2, MaxBackoff: 200 * time.Millisecond})
	}()
	for {
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		if n == 5 || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < 6; i++ {
		if id := fmt.Sprintf("x%d", i); accepted[id] != 1 {
			t.Errorf("%s accepted %d times", id, accepted[id])
		}
	}
	if accepted["x0"] != 0 {
		t.Error("x0, delivered before, was POSTed again")
	}
	if tries < 8 {
		t.Errorf("%d requests: the failed ones were not retried", tries)
	}
}

// ExampleWriter writes alerts as JSON Lines.
func ExampleWriter() {
	w := sink.Writer{W: os.Stdout}
	_ = w.Deliver(context.Background(), []sink.Alert{{ID: "1", Data: []byte(`{"id":"1"}`)}, {ID: "2", Data: []byte(`{"id":"2"}`)}})
	// Output:
	// {"id":"1"}
	// {"id":"2"}
}

// FuzzOpenFile opens an alerts file holding arbitrary bytes (a crash can
// leave anything at its end) and appends to it: never a crash, and the
// file then ends with the new alert on a line of its own.
func FuzzOpenFile(f *testing.F) {
	f.Add([]byte(`{"id":"a1"}` + "\n" + `{"id":"b`))
	f.Add([]byte("\n\n{}\nnot json\n"))
	f.Add([]byte(`{"id":"zz"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "alerts.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fs, err := sink.OpenFile(path, 0)
		if err != nil {
			return
		}
		if err := fs.Deliver(context.Background(), []sink.Alert{alertOf("zz")}); err != nil {
			t.Fatal(err)
		}
		fs.Close()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(got, []byte("\n")) || (!bytes.HasSuffix(got, append(alertOf("zz").Data, '\n')) && !bytes.Contains(got, []byte(`"id":"zz"`))) {
			t.Errorf("file after append: %q", got)
		}
	})
}
