// Package sink delivers the alerts of vigil serve's alerts stream
// (VIGIL_ALERTS) to the outside: a JSON Lines file (File), a webhook
// (Webhook), a writer such as standard output (Writer). Each sink reads
// the stream through a durable consumer of its own (Run), so an alert it
// could not deliver stays in the stream and comes again, and each skips
// the alert ids it has already delivered, so the alerts that come again
// after a crash (those delivered but not yet acknowledged) are not
// delivered twice.
package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/serve/streams"
)

// AlertsStream is the stream sinks read (streams.Alerts).
const AlertsStream = streams.Alerts

// Alert is one alert of the stream: its id (header Nats-Msg-Id) and its
// JSON (docs/alerts.md, with "id").
type Alert struct {
	ID   string
	Data []byte
}

// A Sink delivers alerts in stream order.
//
// Deliver returns nil once every alert of the batch is delivered as
// durably as the sink can make it: the batch is then acknowledged and
// never comes again. It skips alerts whose id it has delivered before
// (the batch after the last acknowledgement comes again after a crash). An
// error leaves the batch in the stream: Run delivers it again after a
// backoff. Deliver is called from one goroutine at a time.
type Sink interface {
	Deliver(ctx context.Context, alerts []Alert) error
}

// Options configure Run.
type Options struct {
	// Batch is the most alerts given to Deliver at once (default 64).
	Batch int
	// DeliverNew starts a new consumer at the alerts published from now
	// on instead of every alert the stream holds.
	DeliverNew bool
	// MaxBackoff caps the wait between failed deliveries (default 30 s);
	// the first wait is 100 ms, doubling.
	MaxBackoff time.Duration
	// AckWait is how long a batch delivered to a process that died stays
	// with it before it is delivered again (default 30 s, as --failover).
	AckWait time.Duration
	// InactiveThreshold, when set, deletes the consumer after that long
	// without a reader (for sinks that do not resume, like stdout).
	InactiveThreshold time.Duration
	// Logger receives failed deliveries; nil discards them.
	Logger *slog.Logger
}

// ConsumerName returns the durable consumer of a sink named name.
func ConsumerName(name string) string { return "vigil-sink-" + name }

// Run delivers the alerts stream to s through the durable consumer
// ConsumerName(name) (created if missing) until ctx is done. Several
// processes running the same name share the alerts: each alert is
// delivered by one of them.
func Run(ctx context.Context, js jetstream.JetStream, name string, s Sink, o Options) error {
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:     ConsumerName(name),
		Description: "vigil serve alert sink " + name,
		// Explicit, not AckAll: a batch may mix alerts delivered again
		// with newer ones, and acknowledging the newest must not
		// acknowledge older ones still with a dead process.
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: o.Batch,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if o.DeliverNew {
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	cfg.InactiveThreshold = o.InactiveThreshold
	cons, err := js.CreateOrUpdateConsumer(ctx, AlertsStream, cfg)
	if err != nil {
		return fmt.Errorf("sink %s: consumer: %w", name, err)
	}
	backoff := 100 * time.Millisecond
	var held []jetstream.Msg // a batch not yet delivered
	for ctx.Err() == nil {
		if held == nil {
			b, err := cons.Fetch(o.Batch, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				log.Warn("sink fetch", "sink", name, "err", err)
				wait(ctx, time.Second)
				continue
			}
			for m := range b.Messages() {
				held = append(held, m)
			}
			if len(held) == 0 {
				continue
			}
		}
		alerts := make([]Alert, len(held))
		for i, m := range held {
			alerts[i] = Alert{ID: m.Headers().Get(jetstream.MsgIDHeader), Data: m.Data()}
			if alerts[i].ID == "" {
				alerts[i].ID = idOf(m.Data())
			}
		}
		if err := s.Deliver(ctx, alerts); err != nil {
			if ctx.Err() != nil {
				break
			}
			log.Warn("alert delivery failed, retrying", "sink", name, "alerts", len(alerts), "retry_in", backoff, "err", err)
			// Mark the messages in progress while waiting, so that
			// they are not redelivered meanwhile.
			for _, m := range held {
				_ = m.InProgress()
			}
			wait(ctx, min(backoff, o.AckWait/2))
			backoff = min(2*backoff, o.MaxBackoff)
			continue
		}
		backoff = 100 * time.Millisecond
		for _, m := range held {
			if err := m.Ack(); err != nil {
				log.Debug("sink ack", "sink", name, "err", err)
			}
		}
		held = nil
	}
	return nil
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// idOf reads the "id" of an alert's JSON (for messages published without
// Nats-Msg-Id).
func idOf(data []byte) string {
	var a struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(data, &a)
	return a.ID
}

// Writer writes alerts as JSON Lines to W (standard output). It keeps no
// record of what it wrote: after a crash, the alerts not yet acknowledged
// are written again.
type Writer struct {
	W io.Writer
}

// Deliver writes the alerts, one per line.
func (w Writer) Deliver(_ context.Context, alerts []Alert) error {
	var errs []error
	for _, a := range alerts {
		if _, err := w.W.Write(append(a.Data[:len(a.Data):len(a.Data)], '\n')); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}
