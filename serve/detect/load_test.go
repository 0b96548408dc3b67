package detect

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/internal/natstest"
	"github.com/vigil-detect/vigil/serve/partition"
)

// TestLoadAfterOtherPartitions saves a partition, stores events of
// another one after it, and loads the partition again: it comes back at
// its saved position at once (the catch-up is capped at the partition's
// last event, never waiting for one past it).
func TestLoadAfterOtherPartitions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := natstest.JetStream(t, natstest.Start(t, "").ClientURL())
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: EventsStream, Subjects: []string{"vigil.events.>"},
		Metadata: map[string]string{PartitionsKey: "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: AlertsStream, Subjects: []string{"vigil.alerts.>"}, Duplicates: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	eng, errs := engine.Compile(nil, engine.Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	w, err := New(ctx, js, &Rules{Engine: eng}, Options{Failover: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Partition 0's events, then partition 1's.
	pub := func(p, n int) {
		for i := range n {
			if _, err := js.Publish(ctx, partition.Prefix+strconv.Itoa(p)+".h", []byte(`{"EventID":`+strconv.Itoa(i)+`}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	pub(0, 3)
	es, _ := js.Stream(ctx, EventsStream)
	cons, _ := es.Consumer(ctx, ConsumerName(0))
	pt := newPart(w, 0, cons, es)
	b, err := cons.Fetch(10, jetstream.FetchMaxWait(300*time.Millisecond), jetstream.FetchPriorityGroup(Group))
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		if err := pt.deliver(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := pt.save(ctx); err != nil {
		t.Fatal(err)
	}
	pub(1, 5)
	b, _ = cons.Fetch(10, jetstream.FetchMaxWait(300*time.Millisecond), jetstream.FetchPriorityGroup(Group))
	for range b.Messages() {
		t.Fatal("an event of partition 1 delivered for partition 0")
	}
	saved := pt.st.saved
	pt.drop()
	done := make(chan error, 1)
	go func() { done <- pt.load(ctx, "", saved) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("loading the partition waits for an event past its last")
	}
	if pt.st.seq != saved || pt.st.counts.Evaluated != 3 {
		t.Errorf("loaded at %d with %d evaluated, want %d and 3", pt.st.seq, pt.st.counts.Evaluated, saved)
	}
}
