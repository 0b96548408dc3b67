package ingest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"

	"github.com/vigil-detect/vigil/serve/streams"
)

// BenchmarkHTTP measures ingest alone: requests of 1,000 distinct events
// (the example's events, numbered, their Computer spread over 200 hosts)
// stored in an in-process JetStream, reported as events/s.
//
//	go test ./serve/ingest -run '^$' -bench HTTP -benchtime 50x
func BenchmarkHTTP(b *testing.B) {
	lines, err := os.ReadFile("../../testdata/example/events.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	base := bytes.Split(bytes.TrimSpace(lines), []byte("\n"))
	e := newEnv(b, streams.Options{})
	h := &HTTP{Publisher: e.pub, Tokens: NewTokens(nil), Metrics: e.metrics}
	computer := regexp.MustCompile(`"Computer":"[^"]*"`)
	n := 0
	body := func() []byte {
		var buf bytes.Buffer
		for range 1000 {
			n++
			l := base[n%len(base)]
			l = computer.ReplaceAll(l, []byte(fmt.Sprintf(`"Computer":"host-%d"`, n%200)))
			fmt.Fprintf(&buf, `{"bench_seq":%d,%s`+"\n", n, l[1:])
		}
		return buf.Bytes()
	}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = body()
	}
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest("POST", "/v1/events", bytes.NewReader(bodies[i]))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d: %s", w.Code, w.Body.String())
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}
