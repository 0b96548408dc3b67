package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/serve/streams"
)

// alertFeed follows the alerts stream for the HTTP alerts API: it keeps an
// index from alert id (the Nats-Msg-Id the detection side publishes with)
// to stream sequence, so that ?after=ID and Last-Event-ID find their place
// (one map entry per alert held by the stream), and fans new alerts out
// to Server-Sent Events subscribers.
type alertFeed struct {
	js     jetstream.JetStream
	log    *slog.Logger
	stream jetstream.Stream
	cc     jetstream.ConsumeContext

	mu       sync.Mutex
	index    map[string]uint64
	last     uint64
	subs     map[*subscriber]struct{}
	target   uint64 // the stream's last sequence at start
	caughtUp chan struct{}
	closed   bool
}

type feedItem struct {
	seq  uint64
	id   string
	data []byte
}

type subscriber struct {
	ch chan feedItem
}

const (
	defaultAlertsLimit = 100
	maxAlertsLimit     = 10000
	subscriberBuffer   = 4096
	sseKeepalive       = 15 * time.Second
	maxWait            = time.Minute
)

func newAlertFeed(js jetstream.JetStream, log *slog.Logger) *alertFeed {
	return &alertFeed{js: js, log: log, index: map[string]uint64{}, subs: map[*subscriber]struct{}{}, caughtUp: make(chan struct{})}
}

func (f *alertFeed) start(ctx context.Context) error {
	st, err := f.js.Stream(ctx, streams.Alerts)
	if err != nil {
		return fmt.Errorf("alerts stream: %w", err)
	}
	f.stream = st
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("alerts stream: %w", err)
	}
	f.target = info.State.LastSeq
	if info.State.Msgs == 0 {
		close(f.caughtUp)
	}
	cons, err := f.js.OrderedConsumer(ctx, streams.Alerts, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return fmt.Errorf("alerts feed: %w", err)
	}
	f.cc, err = cons.Consume(f.add)
	if err != nil {
		return fmt.Errorf("alerts feed: %w", err)
	}
	return nil
}

func (f *alertFeed) add(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	it := feedItem{seq: md.Sequence.Stream, id: m.Headers().Get(jetstream.MsgIDHeader), data: bytes.TrimRight(m.Data(), "\n")}
	if it.id == "" {
		it.id = "seq-" + strconv.FormatUint(it.seq, 10)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index[it.id] = it.seq
	f.last = it.seq
	if it.seq >= f.target {
		select {
		case <-f.caughtUp:
		default:
			close(f.caughtUp)
		}
	}
	for s := range f.subs {
		select {
		case s.ch <- it:
		default:
			// Too slow: cut it off; it reconnects with Last-Event-ID.
			close(s.ch)
			delete(f.subs, s)
		}
	}
}

func (f *alertFeed) subscribe() (*subscriber, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &subscriber{ch: make(chan feedItem, subscriberBuffer)}
	if f.closed {
		close(s.ch)
		return s, f.last
	}
	f.subs[s] = struct{}{}
	return s, f.last
}

func (f *alertFeed) unsubscribe(s *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
		close(s.ch)
	}
}

func (f *alertFeed) closeSubscribers() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for s := range f.subs {
		close(s.ch)
		delete(f.subs, s)
	}
}

func (f *alertFeed) stop() {
	if f.cc != nil {
		f.cc.Stop()
	}
	f.closeSubscribers()
}

// seqOf returns the stream sequence of alert id. An id not in the index
// yet may be of an alert the feed has not read: it then waits (a little)
// for the feed to reach the stream's last sequence and looks again.
func (f *alertFeed) seqOf(ctx context.Context, id string) (uint64, bool) {
	select {
	case <-f.caughtUp:
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
	}
	lookup := func() (uint64, uint64, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		seq, ok := f.index[id]
		return seq, f.last, ok
	}
	seq, last, ok := lookup()
	if ok {
		return seq, true
	}
	info, err := f.stream.Info(ctx)
	if err != nil || info.State.LastSeq <= last {
		return 0, false
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(5 * time.Millisecond)
		if seq, last, ok = lookup(); ok || last >= info.State.LastSeq {
			return seq, ok
		}
	}
	return 0, false
}

// each calls fn with the alerts from sequence from on, at most limit (0:
// no limit) and up to sequence until (0: the end).
func (f *alertFeed) each(ctx context.Context, from, until uint64, limit int, fn func(feedItem) error) error {
	n := 0
	for seq := from; limit == 0 || n < limit; n++ {
		if until > 0 && seq > until {
			return nil
		}
		m, err := f.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(streams.AlertsSubjects))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if until > 0 && m.Sequence > until {
			return nil
		}
		id := m.Header.Get(jetstream.MsgIDHeader)
		if id == "" {
			id = "seq-" + strconv.FormatUint(m.Sequence, 10)
		}
		if err := fn(feedItem{seq: m.Sequence, id: id, data: bytes.TrimRight(m.Data, "\n")}); err != nil {
			return err
		}
		seq = m.Sequence + 1
	}
	return nil
}

// start returns the sequence to read from for an ?after= id ("" for the
// beginning).
func (f *alertFeed) startAfter(ctx context.Context, w http.ResponseWriter, after string) (uint64, bool) {
	if after == "" {
		return 1, true
	}
	seq, ok := f.seqOf(ctx, after)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no alert with id %q in the alerts stream (never published, or past its retention)", after)})
		return 0, false
	}
	return seq + 1, true
}

// serveList answers GET /v1/alerts?after=ID&limit=N&wait=D: the alerts
// after the one with id ID (from the first without it), oldest first, as
// JSON Lines, at most N (default 100, at most 10000). With wait (a
// duration, at most 60s), when no alert follows ID yet, the answer waits
// until one does or wait passes (long polling).
func (f *alertFeed) serveList(w http.ResponseWriter, r *http.Request) {
	var wait time.Duration
	if ws := r.URL.Query().Get("wait"); ws != "" {
		d, err := time.ParseDuration(ws)
		if err != nil || d < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "wait must be a duration such as 10s"})
			return
		}
		wait = min(d, maxWait)
	}
	limit := defaultAlertsLimit
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a positive number"})
			return
		}
		limit = min(n, maxAlertsLimit)
	}
	var sub *subscriber
	var last uint64
	if wait > 0 {
		// Subscribed before looking, so that nothing published in
		// between is missed.
		sub, last = f.subscribe()
		defer f.unsubscribe(sub)
	}
	from, ok := f.startAfter(r.Context(), w, r.URL.Query().Get("after"))
	if !ok {
		return
	}
	if wait > 0 && last < from {
		timer := time.NewTimer(wait)
		defer timer.Stop()
	waiting:
		for {
			select {
			case it, open := <-sub.ch:
				if !open || it.seq >= from {
					break waiting
				}
			case <-timer.C:
				break waiting
			case <-r.Context().Done():
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	var buf bytes.Buffer
	err := f.each(r.Context(), from, 0, limit, func(it feedItem) error {
		buf.Write(it.data)
		buf.WriteByte('\n')
		return nil
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	w.Write(buf.Bytes())
}

// serveStream answers GET /v1/alerts/stream with Server-Sent Events: one
// "alert" event per alert (id: the alert id, data: its JSON), from now on,
// or after the alert named by Last-Event-ID or ?after=ID.
func (f *alertFeed) serveStream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "streaming unsupported"})
		return
	}
	after := r.Header.Get("Last-Event-ID")
	if q := r.URL.Query().Get("after"); q != "" {
		after = q
	}
	sub, last := f.subscribe()
	defer f.unsubscribe(sub)
	var from uint64
	if after != "" {
		if from, ok = f.startAfter(r.Context(), w, after); !ok {
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(it feedItem) error {
		_, err := fmt.Fprintf(w, "id: %s\nevent: alert\ndata: %s\n\n", it.id, it.data)
		return err
	}
	fmt.Fprint(w, ": vigil alerts\n\n")
	fl.Flush()
	sent := last
	if after != "" {
		// The alerts up to the subscription point; the live ones follow.
		if err := f.each(r.Context(), from, last, 0, send); err != nil {
			return
		}
		fl.Flush()
	}
	tick := time.NewTicker(sseKeepalive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case it, ok := <-sub.ch:
			if !ok {
				return
			}
			if it.seq <= sent {
				continue
			}
			sent = it.seq
			if send(it) != nil {
				return
			}
			fl.Flush()
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
