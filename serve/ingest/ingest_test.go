package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigil-detect/vigil/serve/broker"
	"github.com/vigil-detect/vigil/serve/partition"
	"github.com/vigil-detect/vigil/serve/streams"
)

type env struct {
	b       *broker.Broker
	pub     *Publisher
	metrics *Metrics
}

func newEnv(t testing.TB, o streams.Options) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	info, err := streams.Ensure(ctx, b.JS, o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{b: b, pub: NewPublisher(b.JS, info.Partitions, 0), metrics: NewMetrics(prometheus.NewRegistry())}
}

// stored is one message of the events stream.
type stored struct {
	subject string
	lines   []string
	source  string
	recv    string
}

// partitionMessages returns the messages on partition subjects.
func (e *env) partitionMessages(t *testing.T) []stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.b.JS.Stream(ctx, streams.Events)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		if _, ok := partition.Parse(m.Subject, e.pub.Partitions()); !ok {
			continue
		}
		lines := strings.Split(strings.TrimSuffix(string(m.Data), "\n"), "\n")
		out = append(out, stored{m.Subject, lines, m.Header.Get(streams.HeaderSource), m.Header.Get(streams.HeaderReceived)})
	}
	return out
}

// byHost returns the stored event lines by subject, checking the headers.
func byHost(t *testing.T, msgs []stored, source string) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, m := range msgs {
		if !strings.HasPrefix(m.source, source) {
			t.Errorf("%s: Vigil-Source %q, want %s...", m.subject, m.source, source)
		}
		var ns int64
		if _, err := fmt.Sscan(m.recv, &ns); err != nil || time.Since(time.Unix(0, ns)) > time.Minute {
			t.Errorf("%s: Vigil-Received %q", m.subject, m.recv)
		}
		got[m.subject] = append(got[m.subject], m.lines...)
	}
	return got
}

const (
	evA1 = `{"EventID":1,"Computer":"WS-A.corp","Image":"C:\\Windows\\System32\\cmd.exe","UtcTime":"2026-03-04 09:15:09.481"}`
	evA2 = `{"EventID":3,"Computer":"ws-a.CORP","DestinationIp":"185.199.110.153"}`
	evB1 = `{"@timestamp":"2026-03-04T09:15:10Z","host":{"name":"dc01"},"winlog":{"event_id":4688}}`
	evA3 = `{"EventID":1,"Computer":"WS-A.corp","Image":"C:\\Windows\\System32\\whoami.exe"}`
	evA4 = `{"EventID":1,"Computer":"WS-A.corp","Image":"C:\\Windows\\System32\\net.exe"}`
	evB2 = `{"@timestamp":"2026-03-04T09:15:11Z","host":{"name":"dc01"}}`
	evB3 = `{"@timestamp":"2026-03-04T09:15:12Z","host":{"name":"dc01"}}`
	evB4 = `{"@timestamp":"2026-03-04T09:15:13Z","host":{"name":"dc01"}}`
	evC1 = `{"winlog":{"computer_name":"Srv 7","event_id":5156}}`
	evN1 = `{"EventID":4624,"message":"no host"}`
)

func TestHTTP(t *testing.T) {
	// One stream for every case: each stores different events, as the
	// stream drops a message it already holds (same subject and content)
	// within its duplicate window.
	e := newEnv(t, streams.Options{})
	h := &HTTP{Publisher: e.pub, Tokens: NewTokens([]string{"s3cret", "other-token"}), MaxBody: 4096, Metrics: e.metrics}
	srv := httptest.NewServer(h)
	defer srv.Close()

	gz := func(s string) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(s))
		zw.Close()
		return buf.Bytes()
	}
	sub := func(host string) string { return partition.Subject(host, 16) }
	if partition.Of("dc01", 16) != 3 || partition.Of("Srv 7", 16) != 3 {
		t.Fatal("the cases below expect dc01 and Srv 7 in partition 3 of 16")
	}
	for _, c := range []struct {
		name     string
		body     []byte
		header   map[string]string
		code     int
		accepted int
		rejected []Rejected
		stored   map[string][]string
	}{
		{name: "ndjson", body: []byte(evA1 + "\n" + evB1 + "\r\n\n" + evA2 + "\n" + evC1 + "\n" + evN1),
			code: 200, accepted: 5,
			// dc01 and Srv 7 are in one partition (checked below): a
			// message of their own for each would hold one event.
			stored: map[string][]string{sub("ws-a.corp"): {evA1, evA2}, partition.MixedSubject(3): {evB1, evC1}, sub(""): {evN1}}},
		{name: "array, pretty-printed", body: []byte("[\n  " + evB2 + ",\n  {\n    \"Computer\": \"WS-A.corp\",\n    \"CommandLine\": \"cmd /c \\\"x y\\\"\"\n  }\n]"),
			code: 200, accepted: 2,
			stored: map[string][]string{sub("dc01"): {evB2}, sub("ws-a.corp"): {`{"Computer":"WS-A.corp","CommandLine":"cmd /c \"x y\""}`}}},
		{name: "one object", body: []byte(evB3), code: 200, accepted: 1, stored: map[string][]string{sub("dc01"): {evB3}}},
		{name: "mixed good and bad lines", body: []byte(evA3 + "\n{\"EventID\": 1,\n[1,2]\n" + evB4 + "\n\"text\"\n{\"a\":tru}\n"),
			code: 200, accepted: 2,
			rejected: []Rejected{{2, "invalid JSON at byte 15: expected a field name"}, {3, "record is JSON but not an object"}, {5, "record is JSON but not an object"}, {6, "invalid JSON at byte 6: unexpected character 't'"}},
			stored:   map[string][]string{sub("ws-a.corp"): {evA3}, sub("dc01"): {evB4}}},
		{name: "all bad", body: []byte("nope\n"), code: 200, accepted: 0, rejected: []Rejected{{1, "?"}}},
		{name: "gzip", body: gz(evA2 + "\n" + evA3 + "\n"), header: map[string]string{"Content-Encoding": "gzip"},
			code: 200, accepted: 2, stored: map[string][]string{sub("ws-a.corp"): {evA2, evA3}}},
		{name: "bad gzip", body: []byte(evA1), header: map[string]string{"Content-Encoding": "gzip"}, code: 400},
		{name: "unknown encoding", body: []byte(evA1), header: map[string]string{"Content-Encoding": "br"}, code: 415},
		{name: "no token", body: []byte(evA1), header: map[string]string{"Authorization": ""}, code: 401},
		{name: "wrong token", body: []byte(evA1), header: map[string]string{"Authorization": "Bearer s3cret2"}, code: 401},
		{name: "basic auth", body: []byte(evA1), header: map[string]string{"Authorization": "Basic czNjcmV0"}, code: 401},
		{name: "second token", body: []byte(evA4), header: map[string]string{"Authorization": "bearer other-token"}, code: 200, accepted: 1,
			stored: map[string][]string{sub("ws-a.corp"): {evA4}}},
		{name: "too large", body: []byte(strings.Repeat(evA1+"\n", 40)), code: 413},
		{name: "too large once decompressed", body: gz(strings.Repeat(evA1+"\n", 40)), header: map[string]string{"Content-Encoding": "gzip"}, code: 413},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.partitionMessages(t))
			req, _ := http.NewRequest("POST", srv.URL+"/v1/events", bytes.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer s3cret")
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.code, body)
			}
			msgs := e.partitionMessages(t)[before:]
			if c.code != 200 {
				if len(msgs) != 0 {
					t.Errorf("status %d but %d messages stored", c.code, len(msgs))
				}
				var eb map[string]string
				if json.Unmarshal(body, &eb) != nil || eb["error"] == "" {
					t.Errorf("error body %q", body)
				}
				return
			}
			var r Reply
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if r.Accepted != c.accepted || r.RejectedTotal != len(c.rejected) || len(r.Rejected) != len(c.rejected) {
				t.Fatalf("reply %s, want %d accepted, rejected %v", body, c.accepted, c.rejected)
			}
			for i, rj := range c.rejected {
				if r.Rejected[i].Line != rj.Line || rj.Error != "?" && r.Rejected[i].Error != rj.Error {
					t.Errorf("rejected[%d] = %+v, want %+v", i, r.Rejected[i], rj)
				}
			}
			got := byHost(t, msgs, "http ")
			if len(got) == 0 && len(c.stored) == 0 {
				return
			}
			if !reflect.DeepEqual(got, c.stored) {
				t.Errorf("stored\n%v\nwant\n%v", got, c.stored)
			}
			if len(msgs) != len(c.stored) {
				t.Errorf("%d messages for %d subjects: events are not grouped per subject", len(msgs), len(c.stored))
			}
		})
	}
	if got := counter(e.metrics.Accepted.WithLabelValues("http")); got != 13 {
		t.Errorf("accepted metric %v, want 13", got)
	}
	if got := counter(e.metrics.Rejected.WithLabelValues("http")); got != 5 {
		t.Errorf("rejected metric %v, want 5", got)
	}
	for code, want := range map[string]float64{"200": 7, "401": 3, "413": 2, "400": 1, "415": 1} {
		if got := counter(e.metrics.Requests.WithLabelValues(code)); got != want {
			t.Errorf("requests with status %s: %v, want %v", code, got, want)
		}
	}
}

func TestHTTPNoTokens(t *testing.T) {
	e := newEnv(t, streams.Options{})
	srv := httptest.NewServer(&HTTP{Publisher: e.pub, Tokens: NewTokens(nil), Metrics: e.metrics})
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/x-ndjson", strings.NewReader(evA1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: status %d", resp.StatusCode)
	}
}

// TestHTTPUnavailable checks that a request is answered 503 with
// Retry-After, not 200, when the events cannot be stored: the stream is
// full, or NATS is down.
func TestHTTPUnavailable(t *testing.T) {
	e := newEnv(t, streams.Options{EventsMaxBytes: 2048})
	srv := httptest.NewServer(&HTTP{Publisher: e.pub, Tokens: NewTokens(nil), Metrics: e.metrics})
	defer srv.Close()
	n := 0
	post := func() (int, string) {
		var req strings.Builder
		for range 5 {
			n++
			fmt.Fprintf(&req, `{"Computer":"ws-a","EventRecordID":%d,"CommandLine":"%s"}`+"\n", n, strings.Repeat("x", 60))
		}
		resp, err := http.Post(srv.URL, "application/x-ndjson", strings.NewReader(req.String()))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		return resp.StatusCode, string(body)
	}
	codes := []int{}
	for range 6 {
		code, _ := post()
		codes = append(codes, code)
	}
	if codes[0] != 200 || codes[len(codes)-1] != 503 {
		t.Errorf("filling a 2 KiB stream: statuses %v, want 200 first and 503 at the end", codes)
	}
	if got := counter(e.metrics.Refused.WithLabelValues("http")); got == 0 {
		t.Error("refused metric not counted")
	}

	e.b.Server.Shutdown()
	start := time.Now()
	code, body := post()
	if code != 503 {
		t.Errorf("NATS down: status %d (%s), want 503", code, body)
	}
	if d := time.Since(start); d > 12*time.Second {
		t.Errorf("NATS down: answered after %v", d)
	}
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// TestBatchMessages: a host of many events in a batch gets messages of its
// own; hosts of few events share their partition's message (unless one
// is alone in its partition), each host's events in order; the messages
// of the same events are the same (same ids) when sent again.
func TestBatchMessages(t *testing.T) {
	e := newEnv(t, streams.Options{Partitions: 4})
	// Hosts by partition of 4.
	hosts := map[int][]string{}
	for i := 0; len(hosts[0]) < 4 || len(hosts[1]) < 1; i++ {
		h := fmt.Sprintf("ws-%d", i)
		p := partition.Of(h, 4)
		hosts[p] = append(hosts[p], h)
	}
	big, lone := hosts[0][0], hosts[1][0]
	few := hosts[0][1:4]
	line := func(h string, i int) string { return fmt.Sprintf(`{"Computer":%q,"n":%d}`, h, i) }
	want := map[string][]string{}
	var sent []string
	for i := 0; i < MinHostMessage; i++ {
		sent = append(sent, line(big, i))
		want[partition.Subject(big, 4)] = append(want[partition.Subject(big, 4)], line(big, i))
		if i < 3 {
			for _, h := range few {
				sent = append(sent, line(h, i))
			}
		}
	}
	for _, h := range few {
		for i := 0; i < 3; i++ {
			want[partition.MixedSubject(0)] = append(want[partition.MixedSubject(0)], line(h, i))
		}
	}
	sent = append(sent, line(lone, 0))
	want[partition.Subject(lone, 4)] = []string{line(lone, 0)}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for round := 0; round < 2; round++ {
		b := e.pub.NewBatch()
		for _, l := range sent {
			var ev struct{ Computer string }
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatal(err)
			}
			if err := b.Add(ev.Computer, []byte(l)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Publish(ctx, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	msgs := e.partitionMessages(t)
	if len(msgs) != 3 {
		t.Errorf("%d messages stored, want 3 (the second round dropped as duplicates)", len(msgs))
	}
	if got := byHost(t, msgs, "test"); !reflect.DeepEqual(got, want) {
		t.Errorf("stored\n%v\nwant\n%v", got, want)
	}
}
