package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/console"
	"github.com/vigil-detect/vigil/internal/natstest"
	"github.com/vigil-detect/vigil/web"
)

// startNATS runs an in-process NATS server with JetStream stored in dir,
// on a loopback port, and returns a JetStream client; both stop with the
// returned func (or at the end of the test).
func startNATS(t *testing.T, dir string) (jetstream.JetStream, func()) {
	t.Helper()
	s := natstest.Start(t, dir)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		nc.Close()
		s.Shutdown()
		s.WaitForShutdown()
	}
	t.Cleanup(stop)
	return js, stop
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKVStoreSurvivesRestart(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	js, stop := startNATS(t, dir)
	kv, err := console.OpenKV(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := kv.Get(ctx, "abc"); ok || err != nil {
		t.Fatalf("Get of an unknown alert: ok %v err %v", ok, err)
	}
	watch, err := kv.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	want := console.Triage{ID: "abc", State: console.StateAcknowledged, Note: "looking <b>", Who: "ana", When: when}
	if err := kv.Set(ctx, want); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-watch:
		if got != want {
			t.Errorf("watched %+v, want %+v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no watch update in 5 s")
	}
	for _, bad := range []console.Triage{
		{ID: "abc", State: "closed"},
		{ID: "a.b", State: console.StateNew},
		{ID: "", State: console.StateNew},
		{ID: "x", State: console.StateNew, Note: strings.Repeat("n", console.MaxNote+1)},
	} {
		if err := kv.Set(ctx, bad); err == nil {
			t.Errorf("Set(%+v) accepted", bad)
		}
	}
	key1, err := kv.SessionKey(ctx)
	if err != nil || len(key1) != 32 {
		t.Fatalf("session key %x %v", key1, err)
	}

	stop()
	js, _ = startNATS(t, dir)
	kv, err = console.OpenKV(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := kv.Get(ctx, "abc")
	if !ok || err != nil || got != want {
		t.Errorf("after restart: %+v ok %v err %v, want %+v", got, ok, err, want)
	}
	all, err := kv.List(ctx)
	if err != nil || len(all) != 1 || all["abc"] != want {
		t.Errorf("List after restart: %v %v", all, err)
	}
	key2, err := kv.SessionKey(ctx)
	if err != nil || string(key2) != string(key1) {
		t.Errorf("session key changed across restart: %x -> %x (%v)", key1, key2, err)
	}
}

const token = "s3cret-token"

func sampleAlert(host, cmd string) *alert.Alert {
	ts := time.Date(2026, 3, 4, 9, 15, 9, 0, time.UTC)
	return &alert.Alert{
		Rule:      alert.Rule{ID: "r1", Title: "Command Prompt Started by Word", Level: "high", Tags: []string{"attack.execution", "attack.t1059.003"}, Type: "detection"},
		Timestamp: &ts, Host: host,
		Events: []alert.Event{{Timestamp: &ts, Fields: map[string]any{
			"EventID": float64(1), "Computer": host, "Image": `C:\Windows\System32\cmd.exe`, "CommandLine": cmd,
			"ProcessGuid": "{1}", "ProcessId": float64(7212), "ParentImage": `C:\Program Files\Microsoft Office\WINWORD.EXE`,
			"ParentCommandLine": "winword.exe /n invoice.docm", "User": `CORP\jdoe`,
		}}},
	}
}

type fixture struct {
	h    *console.Handler
	srv  *httptest.Server
	feed *console.Feed
	kv   *console.KV
}

func newConsole(t *testing.T, js jetstream.JetStream, feed *console.Feed) *fixture {
	t.Helper()
	ctx := ctxT(t)
	kv, err := console.OpenKV(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	key, err := kv.SessionKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := console.New(console.Options{Source: feed, Triage: kv, SessionKey: key,
		Authorize: func(tok string) bool { return tok == token },
		Rules:     map[string]web.RuleInfo{"r1": {Description: "cmd.exe with an Office parent"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	f := &fixture{h: h, srv: srv, feed: feed, kv: kv}
	t.Cleanup(f.close)
	return f
}

// close ends the event streams, then the server.
func (f *fixture) close() {
	f.h.Close()
	f.srv.Close()
}

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u string, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestAuthAndCSRF(t *testing.T) {
	js, _ := startNATS(t, t.TempDir())
	f := newConsole(t, js, console.NewFeed(0))
	base := f.srv.URL
	origin := map[string]string{"Origin": base}
	form := map[string]string{"Origin": base, "Content-Type": "application/x-www-form-urlencoded"}
	c := client(t)

	resp, page := do(t, c, "GET", base+"/", nil, "")
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "script-src 'sha256-") || !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
		t.Fatalf("GET /: %d, CSP %q", resp.StatusCode, csp)
	}
	if strings.Contains(page, `<meta name="vigil-csrf"`) {
		t.Error("a page without a session carries a CSRF token")
	}
	triage := func(c *http.Client, hdr map[string]string) int {
		h := map[string]string{"Content-Type": "application/json"}
		for k, v := range hdr {
			h[k] = v
		}
		resp, _ := do(t, c, "POST", base+"/api/triage/abc", h, `{"state":"acknowledged","note":"mine"}`)
		return resp.StatusCode
	}
	if code := triage(c, origin); code != http.StatusUnauthorized {
		t.Errorf("triage without a session: %d, want 401", code)
	}
	// Sign-in: a wrong token, a cross-site form, then the right one.
	if resp, _ := do(t, c, "POST", base+"/login", form, "user=ana&token=wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", resp.StatusCode)
	}
	evil := map[string]string{"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}
	if resp, _ := do(t, c, "POST", base+"/login", evil, "user=ana&token="+token); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d, want 403", resp.StatusCode)
	}
	resp, _ = do(t, c, "POST", base+"/login", form, "user=ana&token="+url.QueryEscape(token))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d, want 303", resp.StatusCode)
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{console.CookieName + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("session cookie %q lacks %s", sc, want)
		}
	}
	_, page = do(t, c, "GET", base+"/", nil, "")
	i := strings.Index(page, `<meta name="vigil-csrf" content="`)
	if i < 0 {
		t.Fatal("no CSRF token in the signed-in page")
	}
	csrf := page[i+len(`<meta name="vigil-csrf" content="`):]
	csrf = csrf[:strings.IndexByte(csrf, '"')]

	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no CSRF token", origin, http.StatusForbidden},
		{"wrong CSRF token", map[string]string{"Origin": base, "X-Vigil-CSRF": csrf + "x"}, http.StatusForbidden},
		{"other origin", map[string]string{"Origin": "http://evil.example", "X-Vigil-CSRF": csrf}, http.StatusForbidden},
		{"no origin at all", map[string]string{"X-Vigil-CSRF": csrf}, http.StatusForbidden},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site", "X-Vigil-CSRF": csrf}, http.StatusForbidden},
		{"same origin with token", map[string]string{"Origin": base, "X-Vigil-CSRF": csrf}, http.StatusOK},
		{"same-origin fetch with token", map[string]string{"Sec-Fetch-Site": "same-origin", "X-Vigil-CSRF": csrf}, http.StatusOK},
	} {
		if code := triage(c, tc.hdr); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	got, ok, err := f.kv.Get(context.Background(), "abc")
	if !ok || err != nil || got.State != console.StateAcknowledged || got.Who != "ana" || got.Note != "mine" || got.When.IsZero() {
		t.Errorf("stored triage %+v ok %v err %v", got, ok, err)
	}
	// A bad state, and a forged cookie.
	resp, _ = do(t, c, "POST", base+"/api/triage/abc", map[string]string{"Origin": base, "X-Vigil-CSRF": csrf, "Content-Type": "application/json"}, `{"state":"deleted"}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad state: %d, want 400", resp.StatusCode)
	}
	u, _ := url.Parse(base)
	var cookie *http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == console.CookieName {
			cookie = ck
		}
	}
	forged := client(t)
	parts := strings.Split(cookie.Value, ".")
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: console.CookieName, Value: "Ym9i." + parts[1] + "." + parts[2]}})
	if code := triage(forged, map[string]string{"Origin": base, "X-Vigil-CSRF": csrf}); code != http.StatusUnauthorized {
		t.Errorf("forged cookie: %d, want 401", code)
	}
}

func TestStream(t *testing.T) {
	js, _ := startNATS(t, t.TempDir())
	feed := console.NewFeed(0)
	f := newConsole(t, js, feed)
	feed.Write(sampleAlert("WS-1", "cmd.exe /c a.bat"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	a := sampleAlert("WS-2", "cmd.exe /c b.bat")
	go func() {
		time.Sleep(100 * time.Millisecond)
		feed.Write(a)
		f.kv.Set(context.Background(), console.Triage{ID: console.ID(a), State: console.StateResolved, Who: "bo"})
	}()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var events []string
	var event string
	for sc.Scan() && len(events) < 2 {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			var m map[string]any
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				t.Fatalf("data %q: %v", v, err)
			}
			if m["id"] != console.ID(a) {
				t.Errorf("%s event for %v, want %s", event, m["id"], console.ID(a))
			}
			events = append(events, event)
		}
	}
	if strings.Join(events, ",") != "alert,triage" {
		t.Errorf("events %v, want alert then triage", events)
	}
	// The list API has both alerts, and the triage of the second.
	_, body := do(t, client(t), "GET", f.srv.URL+"/api/alerts", nil, "")
	var list struct {
		Alerts []struct {
			ID     string           `json:"id"`
			Triage *console.Triage  `json:"triage"`
			Alert  *json.RawMessage `json:"alert"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Alerts) != 2 || list.Alerts[1].Triage == nil || list.Alerts[1].Triage.State != console.StateResolved {
		t.Errorf("api/alerts: %s", body)
	}
}

func TestStreamSource(t *testing.T) {
	ctx := ctxT(t)
	js, _ := startNATS(t, t.TempDir())
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T_ALERTS", Subjects: []string{"t.alerts.>"}}); err != nil {
		t.Fatal(err)
	}
	pub := func(i int, withID bool) {
		body := `{"rule":{"id":"r","title":"t","tags":[],"type":"detection"},"events":[],"n":` + string(rune('0'+i)) + `}`
		msg := &nats.Msg{Subject: "t.alerts.p1", Data: []byte(body + "\n"), Header: nats.Header{}}
		if withID {
			msg.Data = []byte(`{"id":"id` + string(rune('0'+i)) + `",` + body[1:] + "\n")
		} else {
			msg.Header.Set(jetstream.MsgIDHeader, "hdr"+string(rune('0'+i)))
		}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	src := console.NewStream(js, "T_ALERTS", "t.alerts.>")
	if recs, err := src.Recent(ctx, 10); err != nil || len(recs) != 0 {
		t.Fatalf("empty stream: %v %v", recs, err)
	}
	for i := 1; i <= 5; i++ {
		pub(i, i != 4)
	}
	recs, err := src.Recent(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
		if bytes.HasSuffix(r.Alert, []byte("\n")) || !json.Valid(r.Alert) {
			t.Errorf("record %s: %q", r.ID, r.Alert)
		}
	}
	if strings.Join(ids, ",") != "id3,hdr4,id5" {
		t.Errorf("recent ids %v, want id3,hdr4,id5", ids)
	}
	sctx, cancel := context.WithCancel(ctx)
	ch, err := src.Subscribe(sctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	pub(6, true)
	select {
	case r := <-ch:
		if r.ID != "id6" {
			t.Errorf("subscribed record %s, want id6", r.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no record in 5 s")
	}
	cancel()
	for range ch {
	}
}

func TestRequireSignIn(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	h, err := console.New(console.Options{Source: console.NewFeed(0), SessionKey: key, RequireSignIn: true,
		Authorize: func(tok string) bool { return tok == token }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer func() { h.Close(); srv.Close() }()
	c := client(t)
	for _, p := range []string{"/api/alerts", "/api/stream"} {
		if resp, _ := do(t, c, "GET", srv.URL+p, nil, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s before signing in: %d, want 401", p, resp.StatusCode)
		}
	}
	if resp, _ := do(t, c, "GET", srv.URL+"/", nil, ""); resp.StatusCode != 200 {
		t.Errorf("the page (with its sign-in form): %d, want 200", resp.StatusCode)
	}
	form := map[string]string{"Origin": srv.URL, "Content-Type": "application/x-www-form-urlencoded"}
	do(t, c, "POST", srv.URL+"/login", form, "user=bo&token="+token)
	if resp, body := do(t, c, "GET", srv.URL+"/api/alerts", nil, ""); resp.StatusCode != 200 || !strings.Contains(body, `"alerts":[]`) {
		t.Errorf("api/alerts signed in: %d %s", resp.StatusCode, body)
	}
	// Guessing tokens: ten failures, then 429 even for the right token.
	for i := range 10 {
		if resp, _ := do(t, c, "POST", srv.URL+"/login", form, "user=bo&token=guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, resp.StatusCode)
		}
	}
	if resp, _ := do(t, c, "POST", srv.URL+"/login", form, "user=bo&token="+token); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("sign-in after 10 failures: %d, want 429", resp.StatusCode)
	}
}
