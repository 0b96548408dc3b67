package console_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-detect/vigil/console"
	"github.com/vigil-detect/vigil/internal/browser"
)

// waitFor polls a JavaScript condition until it holds or the timeout
// passes, and returns how long it took.
func waitFor(t *testing.T, b *browser.Browser, cond string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, err := browser.Eval[bool](b, "!!("+cond+")")
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			msg, _ := b.Text(".triage-form .msg")
			t.Fatalf("%s: not true within %v (triage message %q, script errors %q)", cond, timeout, msg, b.Errors())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rows(id string) string { return `document.querySelector('#rows tr[data-id="` + id + `"]')` }

// TestBrowserConsole drives the console in Chromium: alerts arrive live,
// an analyst signs in and triages one, and the state survives a restart
// of NATS and of the console.
func TestBrowserConsole(t *testing.T) {
	b := browser.Start(t, 50*time.Second)
	dir := t.TempDir()
	js, stopNATS := startNATS(t, dir)
	feed := console.NewFeed(0)
	first := sampleAlert("FIN-WS-042.corp.example", `cmd.exe /c "C:\Users\jdoe\AppData\Local\Temp\update.bat"`)
	hostile := sampleAlert("<img src=x onerror=alert(1)>", "</script><script>alert(1)</script> javascript:alert(1)")
	feed.Write(first)
	feed.Write(hostile)
	f := newConsole(t, js, feed)

	if err := b.Do(chromedp.Navigate(f.srv.URL + "/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, `document.querySelector("#live.on") && document.querySelectorAll("#rows tr").length == 2`, 5*time.Second)

	// A new alert shows within 2 s.
	live := sampleAlert("HR-WS-007.corp.example", "cmd.exe /k powershell -enc SQBFAFgA")
	feed.Write(live)
	if d := waitFor(t, b, rows(console.ID(live)), 2*time.Second); d > 2*time.Second {
		t.Errorf("the new alert took %v to show", d)
	} else {
		t.Logf("a new alert showed in %v", d)
	}

	// Sign in with the API token, then triage the first alert.
	if err := b.Do(
		chromedp.SetValue(chromedp.CSS(`#login input[name="user"]`), "ana"),
		chromedp.SetValue(chromedp.CSS(`#login input[name="token"]`), token),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, `document.querySelector('meta[name="vigil-csrf"]') && document.querySelector("#live.on") && `+rows(console.ID(first)), 5*time.Second)
	if err := b.Do(
		chromedp.Click(chromedp.CSS(`#rows tr[data-id="`+console.ID(first)+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(".triage-form")),
		chromedp.SetValue(chromedp.CSS(`.triage-form select[name="state"]`), console.StateAcknowledged),
		chromedp.SetValue(chromedp.CSS(`.triage-form textarea[name="note"]`), "called the user: <b>not</b> her"),
		chromedp.Click(chromedp.CSS(`.triage-form button[type="submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, `document.querySelector(".triage-form .msg").textContent == "saved"`, 5*time.Second)
	got, ok, err := f.kv.Get(context.Background(), console.ID(first))
	if !ok || err != nil || got.State != console.StateAcknowledged || got.Who != "ana" || got.Note != "called the user: <b>not</b> her" {
		t.Fatalf("stored triage %+v ok %v err %v", got, ok, err)
	}
	if err := b.Do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.getElementById("alerts").offsetTop - 60)`)); err != nil {
		t.Fatal(err)
	}
	b.Screenshot(t, "console.png", "")

	// Restart NATS and the console: the state is still there.
	f.close()
	stopNATS()
	js, _ = startNATS(t, dir)
	feed2 := console.NewFeed(0)
	feed2.Write(first)
	feed2.Write(hostile)
	feed2.Write(live)
	f2 := newConsole(t, js, feed2)
	if err := b.Do(chromedp.Navigate(f2.srv.URL + "/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, rows(console.ID(first))+` && `+rows(console.ID(first))+`.textContent.indexOf("acknowledged") >= 0`, 5*time.Second)
	// The session is signed with the key kept in the bucket: still valid.
	if n, err := b.NodeCount(`meta[name="vigil-csrf"]`); err != nil || n != 1 {
		t.Errorf("not signed in after the restart (%d, %v)", n, err)
	}

	// The hostile alert's text is text.
	if err := b.Do(chromedp.Click(chromedp.CSS(`#rows tr[data-id="` + console.ID(hostile) + `"]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, `document.querySelector("#detail .ptree")`, 5*time.Second)
	for sel, want := range map[string]int{"img": 0, "script": 2, "a[href^='javascript']": 0, "[onerror]": 0} {
		if n, err := b.NodeCount(sel); err != nil || n != want {
			t.Errorf("%d elements %s, want %d (%v)", n, sel, want, err)
		}
	}
	text, _ := b.Text("#detail")
	if !strings.Contains(text, "</script><script>alert(1)</script>") {
		t.Errorf("the hostile command line is not shown as text: %.200q", text)
	}
	if d := b.Dialogs(); len(d) > 0 {
		t.Errorf("dialogs opened: %q", d)
	}
	for _, u := range b.Requests() {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme == "data" {
			continue
		}
		if pu.Hostname() != "127.0.0.1" {
			t.Errorf("request off the console: %s", u)
		}
	}
	if e := b.Errors(); len(e) > 0 {
		t.Errorf("script errors: %q", e)
	}
}
