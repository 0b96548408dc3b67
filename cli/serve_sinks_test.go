//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/json"
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
)

// idsOf reads the "id" of each JSON line.
func idsOf(t *testing.T, jsonl string) []string {
	t.Helper()
	var ids []string
	for l := range strings.Lines(jsonl) {
		var a struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestServeSinks runs vigil serve in-process with the example rules and
// events on standard input, --alerts-file, --webhook and --stdout always:
// each output gets every alert once, with its id.
func TestServeSinks(t *testing.T) {
	dir := t.TempDir()
	events, err := os.ReadFile("../testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var hooked []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooked = append(hooked, string(b)+"\n")
		mu.Unlock()
	}))
	defer hook.Close()
	file := filepath.Join(dir, "alerts.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- Main(ctx, []string{"serve", "-r", "../testdata/example/rules", "--data-dir", filepath.Join(dir, "data"), "--http", "",
			"--nats-listen", "", "--max-lateness", "1s", "--alerts-file", file, "--webhook", hook.URL, "--stdout", "always", "-"},
			Env{Stdin: bytes.NewReader(events), Stdout: &stdout, Stderr: &stderr})
	}()
	// The example rules raise 2 alerts on the example events (vigil hunt
	// -r testdata/example/rules testdata/example/events.jsonl).
	const want = 2
	deadline := time.Now().Add(30 * time.Second)
	var inFile []byte
	for time.Now().Before(deadline) {
		inFile, _ = os.ReadFile(file)
		mu.Lock()
		n := len(hooked)
		mu.Unlock()
		if bytes.Count(inFile, []byte("\n")) >= want && n >= want && strings.Count(stdout.String(), "\n") >= want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // nothing more comes
	inFile, _ = os.ReadFile(file)
	mu.Lock()
	fromHook := idsOf(t, strings.Join(hooked, ""))
	mu.Unlock()
	fromFile, fromStdout := idsOf(t, string(inFile)), idsOf(t, stdout.String())
	if len(fromFile) != want || len(slices.Compact(slices.Clone(fromFile))) != want {
		t.Errorf("alerts file: %d alerts %v, want %d distinct\n%s", len(fromFile), fromFile, want, stderr.String())
	}
	if !slices.Equal(fromHook, fromFile) || !slices.Equal(fromStdout, fromFile) {
		t.Errorf("alert ids differ: file %v, webhook %v, stdout %v", fromFile, fromHook, fromStdout)
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
