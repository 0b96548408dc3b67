package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream is the AlertSource of a JetStream stream of alerts, one JSON
// alert per message (vigil serve's alerts stream): Recent reads its last
// messages, Subscribe follows it with an ordered consumer. An alert's id
// is its JSON's "id" field (vigil serve writes it), else the message's
// Nats-Msg-Id header, else the hash of its JSON.
type Stream struct {
	js      jetstream.JetStream
	stream  string
	subject string // filter; "" for the whole stream
}

// NewStream returns the source of the stream's messages on subject (a
// filter such as "vigil.alerts.>"; "" for all).
func NewStream(js jetstream.JetStream, stream, subject string) *Stream {
	return &Stream{js: js, stream: stream, subject: subject}
}

func (s *Stream) record(m jetstream.Msg) Record {
	data := bytes.TrimRight(m.Data(), "\n")
	var v struct {
		ID string `json:"id"`
	}
	id := ""
	if json.Unmarshal(data, &v) == nil && idPattern.MatchString(v.ID) {
		id = v.ID
	} else if h := m.Headers().Get(jetstream.MsgIDHeader); idPattern.MatchString(h) {
		id = h
	} else {
		sum := sha256.Sum256(data)
		id = hex.EncodeToString(sum[:16])
	}
	return Record{ID: id, Alert: bytes.Clone(data)}
}

func (s *Stream) consumer(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	if s.subject != "" {
		cfg.FilterSubjects = []string{s.subject}
	}
	c, err := s.js.OrderedConsumer(ctx, s.stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("alerts stream %s: %w", s.stream, err)
	}
	return c, nil
}

// Recent implements AlertSource: the last n messages of the stream (by
// sequence; with a subject filter, those among them on the subject).
func (s *Stream) Recent(ctx context.Context, n int) ([]Record, error) {
	st, err := s.js.Stream(ctx, s.stream)
	if err != nil {
		return nil, fmt.Errorf("alerts stream %s: %w", s.stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("alerts stream %s: %w", s.stream, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 || last == 0 {
		return nil, nil
	}
	from := info.State.FirstSeq
	if n > 0 && last >= uint64(n) && last-uint64(n)+1 > from {
		from = last - uint64(n) + 1
	}
	c, err := s.consumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from})
	if err != nil {
		return nil, err
	}
	var out []Record
	for idle := 0; ; {
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			return nil, fmt.Errorf("alerts stream %s: %w", s.stream, err)
		}
		got := 0
		done := false
		for m := range batch.Messages() {
			got++
			out = append(out, s.record(m))
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("alerts stream %s: %w", s.stream, err)
		}
		if done {
			break
		}
		if got == 0 {
			// Nothing yet: the consumer may be starting; give up after
			// about a second without messages.
			if idle++; idle > 50 {
				break
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		} else {
			idle = 0
		}
	}
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out, nil
}

// Subscribe implements AlertSource: the messages stored from now on.
func (s *Stream) Subscribe(ctx context.Context) (<-chan Record, error) {
	c, err := s.consumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return nil, err
	}
	it, err := c.Messages()
	if err != nil {
		return nil, fmt.Errorf("alerts stream %s: %w", s.stream, err)
	}
	ch := make(chan Record, 256)
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	go func() {
		defer close(ch)
		for {
			m, err := it.Next()
			if err != nil {
				return // stopped, or the connection closed: the page reconnects
			}
			select {
			case ch <- s.record(m):
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
