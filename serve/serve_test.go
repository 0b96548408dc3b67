package serve_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	lumber "github.com/elastic/go-lumber/client/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/serve"
	"github.com/vigil-detect/vigil/serve/streams"
)

// detector stands for the detection side: it runs until cancelled and
// counts its reloads.
type detector struct {
	running atomic.Bool
	drained atomic.Bool
}

func (d *detector) Run(ctx context.Context) error {
	d.running.Store(true)
	<-ctx.Done()
	d.drained.Store(true)
	return nil
}

type fixture struct {
	srv    *serve.Server
	det    *detector
	base   string
	token  string
	rules  atomic.Value // string: "good" or "broken"
	loads  atomic.Int32
	tokens string
}

func start(t *testing.T, mod func(*serve.Options)) *fixture {
	t.Helper()
	f := &fixture{det: &detector{}, token: "t0ken"}
	f.rules.Store("good")
	dir := t.TempDir()
	f.tokens = filepath.Join(dir, "tokens")
	os.WriteFile(f.tokens, []byte("# tokens\n"+f.token+"\n"), 0o600)
	o := serve.Options{
		DataDir:   filepath.Join(dir, "data"),
		HTTPAddr:  "127.0.0.1:0",
		TokenFile: f.tokens,
		NewDetector: func(ctx context.Context, env serve.DetectorEnv) (serve.Detector, error) {
			if env.Partitions != 16 || env.JS == nil || env.Registerer == nil {
				return nil, fmt.Errorf("detector env %+v", env)
			}
			return f.det, nil
		},
		Reload: func(ctx context.Context) (string, error) {
			if f.rules.Load() == "broken" {
				return "", errors.New("rules/bad.yml:3:1: unknown modifier")
			}
			f.loads.Add(1)
			return "3 rules loaded", nil
		},
		Version:      "test-1",
		DrainTimeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := serve.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	if a := srv.HTTPAddr(); a != nil {
		f.base = "http://" + a.String()
	}
	return f
}

func (f *fixture) do(t *testing.T, method, path, token string, body io.Reader) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.base+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOperations(t *testing.T) {
	f := start(t, nil)
	for _, c := range []struct {
		method, path, token string
		body                string
		code                int
		want                []string
	}{
		{"GET", "/healthz", "", "", 200, []string{`"status":"ok"`, `"version":"test-1"`, `"advisories":{"version":"`, `"go_version":"go1.`}},
		{"GET", "/readyz", "", "", 200, []string{`"nats":true`, `"rules":"compiled"`, `"partitions":16`}},
		{"POST", "/v1/events", "", `{"Computer":"a"}`, 401, []string{"Bearer"}},
		{"POST", "/v1/events", f.token, `{"Computer":"a"}` + "\n" + `{"Computer":"b"}`, 200, []string{`"accepted":2`}},
		{"POST", "/v1/reload", "", "", 401, nil},
		{"POST", "/v1/reload", "wrong", "", 401, nil},
		{"POST", "/v1/reload", f.token, "", 200, []string{`"reloaded":"3 rules loaded"`}},
		{"GET", "/v1/alerts", "", "", 401, nil},
		{"GET", "/metrics", "", "", 200, []string{`vigil_events_accepted_total{input="http"} 2`, `vigil_rule_reloads_total{result="ok"} 1`, "go_goroutines"}},
		{"GET", "/nope", "", "", 404, nil},
	} {
		code, body := f.do(t, c.method, c.path, c.token, strings.NewReader(c.body))
		if code != c.code {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, code, c.code, body)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s %s: body lacks %q:\n%s", c.method, c.path, w, body)
			}
		}
	}
	if !f.det.running.Load() {
		t.Error("detector not running")
	}
	// Without a token file, HTTP reload is refused (SIGHUP still works).
	g := start(t, func(o *serve.Options) { o.TokenFile = "" })
	if code, body := g.do(t, "POST", "/v1/reload", "", nil); code != 403 || !strings.Contains(body, "SIGHUP") {
		t.Errorf("reload without tokens: %d %s", code, body)
	}
	if _, err := g.srv.Reload(context.Background()); err != nil {
		t.Errorf("Reload without tokens: %v", err)
	}
}

// TestReload checks that a broken rule set is reported and the running one
// stays, by HTTP and by Reload (what SIGHUP calls), and that tokens are
// read again.
func TestReload(t *testing.T) {
	f := start(t, nil)
	f.rules.Store("broken")
	code, body := f.do(t, "POST", "/v1/reload", f.token, nil)
	if code != 422 || !strings.Contains(body, "rules/bad.yml:3:1: unknown modifier") || !strings.Contains(body, "stay") {
		t.Errorf("broken reload: %d %s", code, body)
	}
	if _, err := f.srv.Reload(context.Background()); err == nil {
		t.Error("broken reload: no error")
	}
	if f.loads.Load() != 0 {
		t.Error("broken rules loaded")
	}
	f.rules.Store("good")
	// A new token replaces the old one.
	os.WriteFile(f.tokens, []byte("n3w\n"), 0o600)
	if sum, err := f.srv.Reload(context.Background()); err != nil || sum != "3 rules loaded" {
		t.Errorf("good reload: %q, %v", sum, err)
	}
	if code, _ := f.do(t, "POST", "/v1/events", f.token, strings.NewReader(`{}`)); code != 401 {
		t.Errorf("old token after reload: %d", code)
	}
	if code, _ := f.do(t, "POST", "/v1/events", "n3w", strings.NewReader(`{}`)); code != 200 {
		t.Errorf("new token after reload: %d", code)
	}
	// An empty token file is an error, and the tokens stay.
	os.WriteFile(f.tokens, []byte("\n"), 0o600)
	if _, err := f.srv.Reload(context.Background()); err == nil {
		t.Error("empty token file accepted")
	}
	if code, _ := f.do(t, "POST", "/v1/events", "n3w", strings.NewReader(`{}`)); code != 200 {
		t.Errorf("token after a failed reload: %d", code)
	}
	_, body = f.do(t, "GET", "/metrics", "", nil)
	if !strings.Contains(body, `vigil_rule_reloads_total{result="failed"} 3`) {
		t.Errorf("metrics: %s", grep(body, "reloads"))
	}
}

func grep(s, w string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, w) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// publishAlert stores an alert as the detection side does.
func publishAlert(t *testing.T, js jetstream.JetStream, id, level string) {
	t.Helper()
	m := nats.NewMsg(streams.AlertsPrefix + level)
	m.Data = []byte(fmt.Sprintf(`{"id":%q,"rule":{"level":%q}}`, id, level))
	m.Header.Set(jetstream.MsgIDHeader, id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func TestAlertsAPI(t *testing.T) {
	var js jetstream.JetStream
	f := start(t, func(o *serve.Options) {
		o.NewDetector = func(ctx context.Context, env serve.DetectorEnv) (serve.Detector, error) {
			js = env.JS
			return &detector{}, nil
		}
	})
	for i := range 5 {
		publishAlert(t, js, fmt.Sprintf("a%d", i), "high")
	}
	publishAlert(t, js, "a2", "high") // a duplicate: dropped by the stream

	ids := func(body string) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
			var a struct{ ID string }
			if l == "" {
				continue
			}
			if err := json.Unmarshal([]byte(l), &a); err != nil {
				t.Fatalf("%v: %q", err, l)
			}
			out = append(out, a.ID)
		}
		return out
	}
	for _, c := range []struct {
		query string
		code  int
		want  string
	}{
		{"", 200, "[a0 a1 a2 a3 a4]"},
		{"?limit=2", 200, "[a0 a1]"},
		{"?after=a1", 200, "[a2 a3 a4]"},
		{"?after=a1&limit=1", 200, "[a2]"},
		{"?after=a4", 200, "[]"},
		{"?after=zz", 404, ""},
		{"?limit=-1", 400, ""},
		{"?wait=x", 400, ""},
		{"?after=a1&wait=10s", 200, "[a2 a3 a4]"},
	} {
		code, body := f.do(t, "GET", "/v1/alerts"+c.query, f.token, nil)
		if code != c.code {
			t.Errorf("%s: %d %s", c.query, code, body)
			continue
		}
		if code == 200 {
			if got := fmt.Sprint(ids(body)); got != c.want && !(c.want == "[]" && got == "[]") {
				t.Errorf("%s: %s, want %s", c.query, got, c.want)
			}
		}
	}

	// Long polling: an answer as soon as an alert follows.
	go func() {
		time.Sleep(200 * time.Millisecond)
		publishAlert(t, js, "w1", "high")
	}()
	start := time.Now()
	code, body := f.do(t, "GET", "/v1/alerts?after=a4&wait=20s", f.token, nil)
	if code != 200 || fmt.Sprint(ids(body)) != "[w1]" || time.Since(start) > 10*time.Second {
		t.Errorf("long poll: %d %q after %v", code, body, time.Since(start))
	}
	start = time.Now()
	code, body = f.do(t, "GET", "/v1/alerts?after=w1&wait=300ms", f.token, nil)
	if code != 200 || body != "" || time.Since(start) < 300*time.Millisecond {
		t.Errorf("long poll without alerts: %d %q after %v", code, body, time.Since(start))
	}

	// Server-Sent Events: resume after a2, then live.
	req, _ := http.NewRequest("GET", f.base+"/v1/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Last-Event-ID", "a2")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				events <- id
			}
		}
		close(events)
	}()
	var got []string
	for len(got) < 5 {
		select {
		case id, ok := <-events:
			if !ok {
				t.Fatalf("stream ended after %v", got)
			}
			got = append(got, id)
			if len(got) == 3 {
				publishAlert(t, js, "a5", "low")
				publishAlert(t, js, "a6", "critical")
			}
		case <-ctx.Done():
			t.Fatalf("got %v", got)
		}
	}
	if fmt.Sprint(got) != "[a3 a4 w1 a5 a6]" {
		t.Errorf("stream: %v", got)
	}
	// Shutdown ends the stream rather than waiting for it.
	done := make(chan error, 1)
	go func() { done <- f.srv.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown blocked by an open event stream")
	}
}

func TestExposure(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, c := range []struct {
		o    serve.Options
		want string
	}{
		{serve.Options{HTTPAddr: "0.0.0.0:0", NoDetect: true}, "refusing to serve without authentication"},
		{serve.Options{BeatsAddr: "0.0.0.0:0", NoDetect: true}, "the Beats protocol has no tokens"},
		{serve.Options{NATSListen: "0.0.0.0:0", NoDetect: true}, "loopback only"},
		{serve.Options{NoDetect: true, NoIngest: true}, "nothing to run"},
		{serve.Options{TLSCert: "x.pem", NoDetect: true}, "go together"},
	} {
		c.o.DataDir = filepath.Join(dir, "data")
		srv, err := serve.Start(ctx, c.o)
		if err == nil {
			srv.Shutdown(ctx)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

// TestTLS serves HTTP and Beats over TLS with a self-signed certificate.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	f := start(t, func(o *serve.Options) {
		o.TLSCert, o.TLSKey = certFile, keyFile
		o.BeatsAddr = "127.0.0.1:0"
	})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("POST", "https://"+f.srv.HTTPAddr().String()+"/v1/events", strings.NewReader(`{"Computer":"tls-host"}`))
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"accepted":1`) {
		t.Errorf("https: %d %s", resp.StatusCode, body)
	}
	// Plain HTTP to the TLS port fails.
	if resp, err := http.Get("http://" + f.srv.HTTPAddr().String() + "/healthz"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered on the TLS port")
		}
		resp.Body.Close()
	}
	cl, err := lumber.SyncDialWith(func(network, addr string) (net.Conn, error) {
		return tls.Dial(network, addr, &tls.Config{RootCAs: pool})
	}, f.srv.BeatsAddr().String(), lumber.Timeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if n, err := cl.Send([]any{map[string]any{"host": map[string]any{"name": "tls-beat"}}}); err != nil || n != 1 {
		t.Errorf("beats over TLS: %d, %v", n, err)
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestShutdownDrains checks the order of Shutdown: detection drained, the
// inputs closed, and the data directory usable by the next start.
func TestShutdownDrains(t *testing.T) {
	dir := t.TempDir()
	f := start(t, func(o *serve.Options) { o.DataDir = dir })
	if code, _ := f.do(t, "POST", "/v1/events", f.token, strings.NewReader(`{"Computer":"x"}`)); code != 200 {
		t.Fatal(code)
	}
	if err := f.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !f.det.drained.Load() {
		t.Error("detector not drained")
	}
	if _, err := http.Get(f.base + "/healthz"); err == nil {
		t.Error("HTTP still served after Shutdown")
	}
	g := start(t, func(o *serve.Options) { o.DataDir = dir })
	_, body := g.do(t, "GET", "/readyz", "", nil)
	if !strings.Contains(body, `"nats":true`) {
		t.Errorf("restart: %s", body)
	}
}

// TestMutualTLS: with --tls-client-ca, HTTP and Beats accept only clients
// with a certificate signed by that CA (which lets them listen beyond
// loopback without tokens: TestCheckExposure).
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "vigil test CA", true, nil)
	srvCert, srvKey := newCert(t, ca, caKey, "vigil", false, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	cliCert, cliKey := newCert(t, ca, caKey, "winlogbeat", false, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	keyBlock := func(k *ecdsa.PrivateKey) *pem.Block {
		b, _ := x509.MarshalECPrivateKey(k)
		return &pem.Block{Type: "EC PRIVATE KEY", Bytes: b}
	}
	caFile := write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	f := start(t, func(o *serve.Options) {
		o.TLSCert = write("srv.pem", &pem.Block{Type: "CERTIFICATE", Bytes: srvCert.Raw})
		o.TLSKey = write("srv.key", keyBlock(srvKey))
		o.TLSClientCA = caFile
		o.TokenFile = ""
		o.BeatsAddr = "127.0.0.1:0"
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	clientPair := tls.Certificate{Certificate: [][]byte{cliCert.Raw}, PrivateKey: cliKey}
	port := func(a net.Addr) string { return fmt.Sprint(a.(*net.TCPAddr).Port) }
	url := "https://127.0.0.1:" + port(f.srv.HTTPAddr()) + "/v1/events"
	for _, c := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{{"with a client certificate", []tls.Certificate{clientPair}, true}, {"without", nil, false}} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: c.certs}}}
		resp, err := client.Post(url, "application/x-ndjson", strings.NewReader(`{"Computer":"m"}`))
		if c.ok && (err != nil || resp.StatusCode != 200) {
			t.Errorf("HTTP %s: %v %v", c.name, err, resp)
		}
		if !c.ok && err == nil {
			resp.Body.Close()
			t.Errorf("HTTP %s: accepted (%d)", c.name, resp.StatusCode)
		}
		if err == nil && c.ok {
			resp.Body.Close()
		}
		cl, err := lumber.SyncDialWith(func(network, addr string) (net.Conn, error) {
			return tls.Dial(network, addr, &tls.Config{RootCAs: pool, Certificates: c.certs, ServerName: "127.0.0.1"})
		}, "127.0.0.1:"+port(f.srv.BeatsAddr()), lumber.Timeout(5*time.Second))
		if err == nil {
			_, err = cl.Send([]any{map[string]any{"Computer": "m"}})
			cl.Close()
		}
		if (err == nil) != c.ok {
			t.Errorf("Beats %s: %v", c.name, err)
		}
	}
}

func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool, usage []x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: usage,
		KeyUsage: x509.KeyUsageDigitalSignature, IsCA: isCA, BasicConstraintsValid: true,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}
