package ingest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-detect/vigil/source"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// Reader stores the JSON events of a stream (standard input, for shell
// pipelines): JSON Lines or any other shape the jsonl reader takes. Events
// are stored in batches of up to 1000, or every 200 ms when fewer come.
// A failed store is retried with backoff, reading pausing meanwhile (the
// pipe fills and its writer waits), until it succeeds or ctx ends.
type Reader struct {
	Publisher *Publisher
	Metrics   *Metrics
	Logger    *slog.Logger
	// Input names the input in metrics and the Vigil-Source header.
	Input string
}

const (
	readerBatch = 1000
	readerFlush = 200 * time.Millisecond
)

// Run reads r to its end and returns once every event read is stored.
// When ctx ends first, reading stops and the events already read are
// stored (trying for at most 10 s) before Run returns.
func (s *Reader) Run(ctx context.Context, r io.Reader) error {
	input := s.Input
	if input == "" {
		input = "stdin"
	}
	m := s.Metrics
	var mu sync.Mutex
	cur := s.Publisher.NewBatch()
	stopped := false // no more events are taken
	full := make(chan struct{}, 1)
	eof := make(chan error, 1)
	hr := newHostReader()
	go func() {
		jr := jsonl.NewReader(r, input, func(p *source.Problem) {
			m.Received.WithLabelValues(input).Inc()
			m.Rejected.WithLabelValues(input).Inc()
			if s.Logger != nil {
				s.Logger.Warn(input+": event rejected", "line", p.Line, "err", p.Msg)
			}
		})
		for {
			rec, line, err := jr.ReadRecord()
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				eof <- err
				return
			}
			host, err := hr.host(rec)
			mu.Lock()
			if stopped {
				mu.Unlock()
				return
			}
			if err == nil {
				err = cur.Add(host, rec)
			}
			n := cur.Len()
			mu.Unlock()
			if err != nil {
				m.Received.WithLabelValues(input).Inc()
				m.Rejected.WithLabelValues(input).Inc()
				if s.Logger != nil {
					s.Logger.Warn(input+": event rejected", "line", line, "err", err)
				}
				continue
			}
			if n >= readerBatch {
				select {
				case full <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	store := func(ctx context.Context, last bool) error {
		mu.Lock()
		b := cur
		cur = s.Publisher.NewBatch()
		stopped = last
		mu.Unlock()
		if b.Len() == 0 {
			return nil
		}
		m.Received.WithLabelValues(input).Add(float64(b.Len()))
		wait := 100 * time.Millisecond
		for {
			start := time.Now()
			err := b.Publish(ctx, input, time.Now())
			if err == nil {
				m.Store.WithLabelValues(input).Observe(time.Since(start).Seconds())
				m.Accepted.WithLabelValues(input).Add(float64(b.Len()))
				return nil
			}
			m.Refused.WithLabelValues(input).Add(float64(b.Len()))
			if s.Logger != nil {
				s.Logger.Warn(input+": storing failed, retrying", "events", b.Len(), "retry_in", wait, "err", err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
		}
	}
	tick := time.NewTicker(readerFlush)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// Stop reading; store what was read.
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := store(fctx, true); err != nil {
				return err
			}
			return ctx.Err()
		case err := <-eof:
			if serr := store(ctx, true); serr != nil {
				return serr
			}
			return err
		case <-full:
		case <-tick.C:
		}
		if err := store(ctx, false); err != nil {
			return err
		}
	}
}
