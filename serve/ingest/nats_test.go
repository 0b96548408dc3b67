package ingest

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-detect/vigil/serve/partition"
	"github.com/vigil-detect/vigil/serve/streams"
)

// TestRepartition publishes events straight to NATS, on subjects that are
// not partition subjects, and checks that each event reaches its host's
// partition subject exactly once, with the bad ones counted.
func TestRepartition(t *testing.T) {
	e := newEnv(t, streams.Options{Partitions: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := &Repartition{Publisher: e.pub, Metrics: e.metrics}
	if err := r.Start(ctx, e.b.JS); err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	want := map[string][]string{}
	add := func(host, line string) {
		want[partition.Subject(host, 4)] = append(want[partition.Subject(host, 4)], line)
	}
	// One event per message, JSON Lines, an array, three subject shapes.
	add("dc01", evB1)
	pub(t, e, "vigil.events.raw", evB1)
	add("ws-a.corp", evA1)
	add("ws-a.corp", evA2)
	add("Srv 7", evC1)
	pub(t, e, "vigil.events.fluentbit.eu.ws-a", evA1+"\n"+evA2+"\nnot json\n"+evC1+"\n")
	add("dc01", evB2)
	add("dc01", evB3)
	pub(t, e, "vigil.events.x", "["+evB2+",\n"+evB3+"]")
	// A partition subject is left alone: it is already partitioned.
	direct := partition.Subject("ws-z", 4)
	pub(t, e, direct, `{"Computer":"ws-z"}`)
	want[direct] = []string{`{"Computer":"ws-z"}`}

	deadline := time.Now().Add(10 * time.Second)
	var got map[string][]string
	for time.Now().Before(deadline) {
		got = map[string][]string{}
		n := 0
		for _, m := range e.partitionMessages(t) {
			got[m.subject] = append(got[m.subject], m.lines...)
			n += len(m.lines)
			if m.subject != direct && !strings.HasPrefix(m.source, "nats vigil.events.") {
				t.Fatalf("%s: Vigil-Source %q", m.subject, m.source)
			}
		}
		if n >= 7 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Messages of different source subjects are repartitioned
	// concurrently: only the order within one source subject is kept.
	for _, m := range []map[string][]string{got, want} {
		for _, lines := range m {
			sort.Strings(lines)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored\n%v\nwant\n%v", got, want)
	}
	if rj := counter(e.metrics.Rejected.WithLabelValues("nats")); rj != 1 {
		t.Errorf("rejected metric %v, want 1", rj)
	}
	// Every raw message is acknowledged.
	c, err := e.b.JS.Consumer(ctx, streams.Events, RepartitionConsumer)
	if err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline) {
		ci, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.NumAckPending == 0 && ci.NumPending == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pub(t *testing.T, e *env, subj, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.b.JS.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: []byte(data)}); err != nil {
		t.Fatal(err)
	}
}

func TestReader(t *testing.T) {
	e := newEnv(t, streams.Options{})
	r := &Reader{Publisher: e.pub, Metrics: e.metrics}
	in := evA1 + "\n" + evB1 + "\n{bad\n" + evA2 + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Run(ctx, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	got := byHost(t, e.partitionMessages(t), "stdin")
	want := map[string][]string{partition.Subject("ws-a.corp", 16): {evA1, evA2}, partition.Subject("dc01", 16): {evB1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored\n%v\nwant\n%v", got, want)
	}
	if rj := counter(e.metrics.Rejected.WithLabelValues("stdin")); rj != 1 {
		t.Errorf("rejected %v", rj)
	}
}

// TestReaderStop: stopping the reader of an open pipe stores what was
// read and returns at once.
func TestReaderStop(t *testing.T) {
	e := newEnv(t, streams.Options{})
	r := &Reader{Publisher: e.pub, Metrics: e.metrics}
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, pr) }()
	io.WriteString(pw, evA1+"\n"+evB1+"\n")
	deadline := time.Now().Add(5 * time.Second)
	for counter(e.metrics.Accepted.WithLabelValues("stdin")) < 2 && time.Now().Before(deadline) {
		// Before the periodic store, or after it: either way stored.
		if time.Since(deadline.Add(-5*time.Second)) > 50*time.Millisecond {
			cancel()
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	got := 0
	for _, m := range e.partitionMessages(t) {
		got += len(m.lines)
	}
	if got != 2 {
		t.Errorf("%d events stored, want 2", got)
	}
}
