package console_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-detect/vigil/internal/browser"
)

// vigilServe runs `vigil serve` as a child process on addr with the data
// folder dir, and stops it with SIGTERM (checking it exits 0) when the
// returned func is called or the test ends.
func vigilServe(t *testing.T, bin, dir, addr, tokens string) func() {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "-r", "../testdata/example/rules", "--data-dir", filepath.Join(dir, "data"),
		"--http", addr, "--nats-listen", "", "--token-file", tokens, "--max-lateness", "1s", "--log-format", "json")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("vigil serve exited with %v: %s", err, tail(stderr.String()))
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("vigil serve did not stop within 30 s of SIGTERM: %s", tail(stderr.String()))
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil serve not ready in 30 s: %s", tail(stderr.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return stop
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// TestServeConsole is the end-to-end test of the console in vigil serve:
// an event posted to /v1/events shows as an alert in the browser within
// 2 s, and a triage state set in the page survives a restart of vigil
// serve.
func TestServeConsole(t *testing.T) {
	b := browser.Start(t, 110*time.Second)
	dir := t.TempDir()
	bin := filepath.Join(dir, "vigil")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/vigil").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const tok = "e2e-token-7f3a"
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# console test\n"+tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	base := "http://" + addr
	stop := vigilServe(t, bin, dir, addr, tokens)

	// The alerts need a token, as /v1/alerts does: sign in first.
	if err := b.Do(chromedp.Navigate(base + "/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, `document.getElementById("live").textContent == "sign in to see the alerts"`, 10*time.Second)
	if resp, err := http.Get(base + "/api/alerts"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("api/alerts without a session: %v %v", resp, err)
	}
	if err := b.Do(
		chromedp.SetValue(chromedp.CSS(`#login input[name="user"]`), "ana"),
		chromedp.SetValue(chromedp.CSS(`#login input[name="token"]`), tok),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, `document.querySelector('meta[name="vigil-csrf"]') && document.querySelector("#live.on")`, 10*time.Second)

	// The example's second event: Word starts cmd.exe; the example rule
	// "Command Prompt Started by an Office Application" fires on it.
	data, err := os.ReadFile("../testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	event := strings.Split(string(data), "\n")[1]
	req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(event+"\n"))
	req.Header.Set("Authorization", "Bearer "+tok)
	posted := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/events: %s", resp.Status)
	}
	waitFor(t, b, `document.querySelectorAll("#rows tr").length == 1`, 2*time.Second)
	t.Logf("the alert showed %v after the POST", time.Since(posted).Round(time.Millisecond))
	id, err := browser.Eval[string](b, `document.querySelector("#rows tr").getAttribute("data-id")`)
	if err != nil || id == "" {
		t.Fatalf("alert id %q: %v", id, err)
	}

	// Resolve it.
	if err := b.Do(
		chromedp.Click(chromedp.CSS(`#rows tr`)),
		chromedp.WaitVisible(chromedp.CSS(".triage-form")),
		chromedp.SetValue(chromedp.CSS(`.triage-form select[name="state"]`), "resolved"),
		chromedp.SetValue(chromedp.CSS(`.triage-form textarea[name="note"]`), "macro from the finance template"),
		chromedp.Click(chromedp.CSS(`.triage-form button[type="submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, `document.querySelector(".triage-form .msg").textContent == "saved"`, 5*time.Second)

	// Restart vigil serve: the alert and its state are still there.
	stop()
	vigilServe(t, bin, dir, addr, tokens)
	if err := b.Do(chromedp.Navigate(base + "/")); err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf(`document.querySelector('#rows tr[data-id="%s"]')`, id)
	waitFor(t, b, row+` && `+row+`.textContent.indexOf("resolved") >= 0`, 10*time.Second)
	if err := b.Do(chromedp.Click(chromedp.CSS(`#rows tr`)), chromedp.WaitVisible(chromedp.CSS(".triage-info"))); err != nil {
		t.Fatal(err)
	}
	info, _ := b.Text(".triage-info")
	for _, want := range []string{"resolved", "macro from the finance template", "ana"} {
		if !strings.Contains(info, want) {
			t.Errorf("triage after the restart %q lacks %q", info, want)
		}
	}
	if d := b.Dialogs(); len(d) > 0 {
		t.Errorf("dialogs: %q", d)
	}
	for _, e := range b.Errors() {
		if !strings.Contains(e, "401") { // the list before signing in
			t.Errorf("script error: %q", e)
		}
	}
}
