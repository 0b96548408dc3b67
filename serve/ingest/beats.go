package ingest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-lumber/lj"
	lumberlog "github.com/elastic/go-lumber/log"
	lumber "github.com/elastic/go-lumber/server"
)

// go-lumber logs every connection through a package variable; its lines
// go to the logger of the latest Beats input, at debug level, instead of
// the standard logger.
var (
	lumberLogOnce sync.Once
	lumberLogTo   atomic.Pointer[slog.Logger]
)

type lumberLogger struct{}

func (lumberLogger) Printf(f string, v ...any) { lumberLog(fmt.Sprintf(f, v...)) }
func (lumberLogger) Println(v ...any)          { lumberLog(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }
func (lumberLogger) Print(v ...any)            { lumberLog(fmt.Sprint(v...)) }

func lumberLog(msg string) {
	if l := lumberLogTo.Load(); l != nil {
		l.Debug("go-lumber: " + msg)
	}
}

// Beats serves the Beats (lumberjack v2) protocol, so that Winlogbeat,
// Filebeat and Elastic Agent's Logstash output ship straight to vigil. A
// batch is ACKed once every event of it is stored; until then the sender
// keeps it (and resends it after a reconnect). When storing fails the
// batch is retried with backoff, the sender waiting, until it is stored or
// vigil shuts down without ACKing it.
type Beats struct {
	Publisher *Publisher
	Metrics   *Metrics
	Logger    *slog.Logger
	// Workers is the number of batches stored at once (0: 4).
	Workers int
	// Drain bounds how long Close waits for the batches being stored
	// (0: 10 s).
	Drain time.Duration

	srv   lumber.Server
	addr  net.Addr
	wg    sync.WaitGroup
	drain chan struct{}
	stop  context.CancelFunc
}

// rawEvent keeps an event's JSON as received: go-lumber's decoder hook
// stores the bytes instead of decoding them.
func rawEvent(data []byte, v any) error {
	p, ok := v.(*any)
	if !ok {
		return json.Unmarshal(data, v)
	}
	*p = json.RawMessage(append([]byte(nil), data...))
	return nil
}

// Listen starts the Beats server on addr (TLS when tlsConf is set) and its
// workers.
func (s *Beats) Listen(addr string, tlsConf *tls.Config) error {
	lumberLogOnce.Do(func() { lumberlog.Logger = lumberLogger{} })
	if s.Logger != nil {
		lumberLogTo.Store(s.Logger)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--beats: %w", err)
	}
	if tlsConf != nil {
		l = tls.NewListener(l, tlsConf)
	}
	srv, err := lumber.NewWithListener(l, lumber.V1(false), lumber.V2(true), lumber.JSONDecoder(rawEvent),
		lumber.Timeout(60*time.Second), lumber.Keepalive(3*time.Second))
	if err != nil {
		l.Close()
		return fmt.Errorf("--beats: %w", err)
	}
	s.srv, s.addr = srv, l.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.drain = make(chan struct{})
	n := s.Workers
	if n <= 0 {
		n = 4
	}
	for range n {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			hr := newHostReader()
			for {
				select {
				case <-s.drain:
					return
				case b, ok := <-srv.ReceiveChan():
					if !ok {
						return
					}
					s.store(ctx, hr, b)
				}
			}
		}()
	}
	return nil
}

// Addr is the address the server listens on.
func (s *Beats) Addr() net.Addr { return s.addr }

func (s *Beats) store(ctx context.Context, hr *hostReader, lb *lj.Batch) {
	received := time.Now()
	b := s.Publisher.NewBatch()
	nrej := 0
	for i, ev := range lb.Events {
		raw, ok := ev.(json.RawMessage)
		var err error
		if !ok {
			err = fmt.Errorf("event %d of the batch is not JSON", i+1)
		} else {
			var host string
			if host, err = hr.host(raw); err == nil {
				err = b.Add(host, raw)
			}
		}
		if err != nil {
			nrej++
			if s.Logger != nil {
				s.Logger.Warn("beats: event rejected", "event", i+1, "of", len(lb.Events), "err", err)
			}
		}
	}
	m := s.Metrics
	m.Received.WithLabelValues("beats").Add(float64(len(lb.Events)))
	m.Rejected.WithLabelValues("beats").Add(float64(nrej))
	wait := 100 * time.Millisecond
	for {
		start := time.Now()
		err := b.Publish(ctx, "beats", received)
		if err == nil {
			m.Store.WithLabelValues("beats").Observe(time.Since(start).Seconds())
			m.Accepted.WithLabelValues("beats").Add(float64(b.Len()))
			lb.ACK()
			return
		}
		m.Refused.WithLabelValues("beats").Add(float64(b.Len()))
		if s.Logger != nil {
			s.Logger.Warn("beats: storing failed, retrying; the batch is not acknowledged", "events", b.Len(), "retry_in", wait, "err", err)
		}
		select {
		case <-ctx.Done():
			// Not ACKed: the sender resends it.
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// Close stops taking batches, lets the ones being stored finish (for at
// most Drain: then they are abandoned unacknowledged) and closes the
// server and its connections. Batches not stored are not ACKed: their
// senders resend them.
func (s *Beats) Close() error {
	if s.srv == nil {
		return nil
	}
	close(s.drain)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	drain := s.Drain
	if drain <= 0 {
		drain = 10 * time.Second
	}
	select {
	case <-done:
	case <-time.After(drain):
		s.stop()
		<-done
	}
	s.stop()
	return s.srv.Close()
}
