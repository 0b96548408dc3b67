package ingest

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/serve/partition"
	"github.com/vigil-detect/vigil/serve/streams"
)

// RepartitionConsumer is the durable consumer, shared by every ingest
// node, that reads the events producers publish straight to NATS.
const RepartitionConsumer = "vigil-ingest-repartition"

// RawFilters are the subjects of the events stream that are not partition
// subjects and are read by the repartitioner: vigil.events.<one token>
// and vigil.events.<three or more tokens>. Two-token subjects
// vigil.events.<a>.<b> are reserved for partitions (docs/serve.md).
var RawFilters = []string{partition.Prefix + "*", partition.Prefix + "*.*.>"}

// Repartition moves the events that producers publish to the events
// stream on a subject other than a partition subject (vigil.events.raw,
// say; JSON Lines, a JSON array or one object per message) to their
// host's partition subject. Each republished message's Nats-Msg-Id is
// derived from the source message's stream sequence, and the source
// message is acknowledged only after every republish is, so a crash
// between the two republishes (deduplicated) and never loses.
type Repartition struct {
	Publisher *Publisher
	Metrics   *Metrics
	Logger    *slog.Logger
	// Workers is the number of messages handled at once (0: 4).
	Workers int

	cc   jetstream.ConsumeContext
	msgs []chan jetstream.Msg
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc
}

// Start creates (or updates) the durable consumer and starts reading.
func (r *Repartition) Start(ctx context.Context, js jetstream.JetStream) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, streams.Events, jetstream.ConsumerConfig{
		Durable:        RepartitionConsumer,
		Description:    "vigil serve: moves events published to vigil.events.<raw> to their partition",
		FilterSubjects: RawFilters,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        30 * time.Second,
		MaxAckPending:  256,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("repartition consumer: %w", err)
	}
	n := r.Workers
	if n <= 0 {
		n = 4
	}
	r.ctx, r.stop = context.WithCancel(context.Background())
	// Messages of one source subject go to one worker, in order, so that
	// a producer's events keep their order on their partition.
	for range n {
		ch := make(chan jetstream.Msg)
		r.msgs = append(r.msgs, ch)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			hr := newHostReader()
			for m := range ch {
				r.handle(hr, m)
			}
		}()
	}
	r.cc, err = cons.Consume(func(m jetstream.Msg) {
		h := fnv.New32a()
		h.Write([]byte(m.Subject()))
		r.msgs[h.Sum32()%uint32(len(r.msgs))] <- m
	}, jetstream.PullMaxMessages(64))
	if err != nil {
		r.stop()
		r.closeWorkers()
		r.wg.Wait()
		return fmt.Errorf("repartition consumer: %w", err)
	}
	return nil
}

func (r *Repartition) handle(hr *hostReader, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		m.Term()
		return
	}
	received := md.Timestamp
	b := r.Publisher.NewBatch()
	b.IDPrefix = "vigil-repartition-" + strconv.FormatUint(md.Sequence.Stream, 10)
	rejected, nrej, _ := b.readRecords(hr, bytes.NewReader(m.Data()), m.Subject())
	if md.NumDelivered == 1 {
		r.Metrics.Received.WithLabelValues("nats").Add(float64(b.Len() + nrej))
		r.Metrics.Rejected.WithLabelValues("nats").Add(float64(nrej))
		for _, rj := range rejected {
			if r.Logger != nil {
				r.Logger.Warn("nats ingest: event rejected", "subject", m.Subject(), "seq", md.Sequence.Stream, "line", rj.Line, "err", rj.Error)
			}
		}
	}
	start := time.Now()
	if err := b.Publish(r.ctx, "nats "+m.Subject(), received); err != nil {
		r.Metrics.Refused.WithLabelValues("nats").Add(float64(b.Len()))
		if r.Logger != nil {
			r.Logger.Warn("nats ingest: storing failed, will retry", "subject", m.Subject(), "seq", md.Sequence.Stream, "err", err)
		}
		m.NakWithDelay(time.Second)
		return
	}
	r.Metrics.Store.WithLabelValues("nats").Observe(time.Since(start).Seconds())
	if err := m.DoubleAck(r.ctx); err != nil {
		// Redelivered later: the republishes are deduplicated.
		if r.Logger != nil {
			r.Logger.Warn("nats ingest: ack failed", "seq", md.Sequence.Stream, "err", err)
		}
		return
	}
	r.Metrics.Accepted.WithLabelValues("nats").Add(float64(b.Len()))
}

func (r *Repartition) closeWorkers() {
	for _, ch := range r.msgs {
		close(ch)
	}
}

// Close stops reading, finishes the messages in hand and returns.
func (r *Repartition) Close() {
	if r.cc == nil {
		return
	}
	r.cc.Drain()
	<-r.cc.Closed()
	r.closeWorkers()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		r.stop()
		<-done
	}
	r.stop()
}
