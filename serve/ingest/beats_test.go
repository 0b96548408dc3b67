package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	lumber "github.com/elastic/go-lumber/client/v2"

	"github.com/vigil-detect/vigil/serve/partition"
	"github.com/vigil-detect/vigil/serve/streams"
)

// TestBeats sends batches through go-lumber's client and checks that each
// batch's events are in the stream when the client gets its ACK.
func TestBeats(t *testing.T) {
	e := newEnv(t, streams.Options{})
	s := &Beats{Publisher: e.pub, Metrics: e.metrics}
	if err := s.Listen("127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cl, err := lumber.SyncDial(s.Addr().String(), lumber.Timeout(10*time.Second), lumber.CompressionLevel(3))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	want := map[string][]string{}
	total := 0
	for batch := range 3 {
		var events []any
		for i := range 50 {
			host := fmt.Sprintf("WS-%02d.corp", i%7)
			ev := map[string]any{
				"@timestamp": "2026-03-04T09:15:10Z",
				"host":       map[string]any{"name": host},
				"winlog":     map[string]any{"event_id": 4688, "record_id": batch*1000 + i, "channel": "Security"},
				"message":    "A new process has been created.",
			}
			events = append(events, ev)
			line, _ := json.Marshal(ev)
			subj := partition.Subject(host, 16)
			want[subj] = append(want[subj], string(line))
		}
		n, err := cl.Send(events)
		if err != nil || n != len(events) {
			t.Fatalf("batch %d: %d acked, %v", batch, n, err)
		}
		total += n
		// Acknowledged: stored, with nothing to wait for.
		got := 0
		for _, m := range e.partitionMessages(t) {
			got += len(m.lines)
		}
		if got != total {
			t.Fatalf("batch %d acknowledged with %d events stored, want %d", batch, got, total)
		}
	}
	got := byHost(t, e.partitionMessages(t), "beats")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored\n%v\nwant\n%v", got, want)
	}
	if a := counter(e.metrics.Accepted.WithLabelValues("beats")); a != 150 {
		t.Errorf("accepted metric %v", a)
	}
}

// TestBeatsNoAckWhenDown checks that a batch that cannot be stored is not
// acknowledged.
func TestBeatsNoAckWhenDown(t *testing.T) {
	e := newEnv(t, streams.Options{})
	s := &Beats{Publisher: e.pub, Metrics: e.metrics, Drain: 100 * time.Millisecond}
	if err := s.Listen("127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cl, err := lumber.SyncDial(s.Addr().String(), lumber.Timeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	e.b.Server.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := cl.Send([]any{map[string]any{"Computer": "ws-1", "EventID": 1}})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("batch acknowledged while NATS is down")
		}
	case <-ctx.Done():
		// Still waiting for its ACK: right.
	}
	if r := counter(e.metrics.Refused.WithLabelValues("beats")); r == 0 {
		t.Error("refused metric not counted")
	}
}
