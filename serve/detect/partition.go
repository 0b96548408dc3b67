package detect

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/serve/partition"
)

// lineBits is how many low bits of a correlation match's Seq hold the
// event's line within its message; the stream sequence is above them.
const lineBits = 20

// errLost means another worker saved the partition's state since this one
// loaded it: this worker no longer holds the partition.
var errLost = errors.New("partition taken over by another worker")

// part is one partition as a worker sees it.
type part struct {
	// coolUntil: a partition this worker released is left to the others
	// until then.
	coolUntil time.Time
	w         *Worker
	warned    time.Time // last warning of a future-dated event (logs only)
	p         int
	evaluated prometheus.Counter // vigil_events_evaluated_total of p
	lag       prometheus.Gauge   // vigil_consumer_lag of p
	cons      jetstream.Consumer
	stream    jetstream.Stream
	st        *pstate // nil until the partition is delivered to this worker
	// ackable is the newest delivered message whose sequence the state
	// covers; acknowledging it (AckAll) acknowledges every older one.
	ackable jetstream.Msg
	// lastMsg is when the last message (or tick) was delivered, or the
	// partition loaded: the start of its idle time.
	lastMsg time.Time
}

// newPart returns the worker's reader of partition p, its labelled
// counter looked up once rather than per message.
func newPart(w *Worker, p int, cons jetstream.Consumer, stream jetstream.Stream) *part {
	return &part{w: w, p: p, cons: cons, stream: stream,
		evaluated: w.m.evaluated.WithLabelValues(label(p)), lag: w.m.lag.WithLabelValues(label(p))}
}

// pstate is the detection state of a partition held by this worker.
type pstate struct {
	rules   *Rules
	stream  *hunt.Stream
	reorder *correlate.Reorderer
	proc    *correlate.Processor
	enrich  *advisory.Enricher
	open    prometheus.Gauge // vigil_correlation_open_groups of the partition (its label is deleted when the state is dropped)

	// seq is the last stream sequence evaluated into the state; saved the
	// last one a snapshot covers.
	seq, saved uint64
	counts     counts
	newest     time.Time // newest event time seen: the watermark is newest - MaxLateness
	pruned     time.Time // newest event time when process starts were last pruned
	pin        string    // Nats-Pin-Id the partition was delivered under
	gen, rev   uint64    // snapshot generation and its pointer's revision
	lastSave   time.Time
	loaded     time.Time

	pending  []pendingAlert
	received time.Time // receipt time of the event being evaluated
	stored   time.Time // storage time of the message being evaluated
}

// counts are cumulative over the partition's history (saved in snapshots).
type counts struct {
	Evaluated int64 `json:"evaluated"` // events evaluated (stream order, each once)
	Problems  int64 `json:"problems"`  // unparsable events
	Late      int64 `json:"late"`      // events behind the watermark
	Future    int64 `json:"future"`    // events dated past storage + MaxClockSkew
	Alerts    int64 `json:"alerts"`    // alerts published
}

type pendingAlert struct {
	id, level, rule string
	data            []byte
	received        time.Time
}

func (pt *part) run(ctx context.Context) error {
	w := pt.w
	wait := min(time.Second, w.opts.Failover/3)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if d := time.Until(pt.coolUntil); d > 0 {
			sleep(ctx, d)
			continue
		}
		if pt.st == nil && w.atShare() {
			// Holding its share already: let the workers below
			// theirs ask first.
			sleep(ctx, wait)
		}
		batch, err := pt.cons.Fetch(w.opts.Batch, jetstream.FetchMaxWait(wait), jetstream.FetchMaxBytes(w.fetchBytes), jetstream.FetchPriorityGroup(Group))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.log.Warn("fetch", "partition", pt.p, "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		n := 0
		msgs := batch.Messages()
		for {
			var msg jetstream.Msg
			var ok bool
			select {
			case msg, ok = <-msgs:
			default:
				// Nothing more has come yet: publish what was found
				// now rather than when the pull request ends.
				if pt.st != nil && len(pt.st.pending) > 0 {
					wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Failover)
					err := pt.publish(wctx)
					cancel()
					if err != nil {
						pt.fail(err)
					}
				}
				msg, ok = <-msgs
			}
			if !ok {
				break
			}
			n++
			if err := pt.deliver(ctx, msg); err != nil {
				pt.fail(err)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			w.log.Debug("fetch", "partition", pt.p, "err", err)
		}
		if pt.st == nil {
			continue
		}
		// ctx may be done: finish the work in hand on a context of its own.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Failover)
		if n == 0 && ctx.Err() == nil {
			pt.tick(wctx)
		}
		err = pt.publish(wctx)
		if err == nil && (n == 0 || time.Since(pt.st.lastSave) >= w.opts.SnapshotInterval || ctx.Err() != nil) {
			err = pt.save(wctx)
		}
		cancel()
		if err != nil {
			pt.fail(err)
		}
		if pt.st != nil && pt.st.saved == pt.st.seq && len(pt.st.pending) == 0 &&
			time.Since(pt.st.loaded) > w.opts.Failover && w.shouldRelease() {
			pt.release(ctx)
			continue
		}
	}
	if pt.st != nil {
		// Let another worker take the partition now rather than after
		// --failover (the state is saved and acknowledged above).
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := pt.stream.UnpinConsumer(uctx, ConsumerName(pt.p), Group); err != nil {
			w.log.Debug("unpin", "partition", pt.p, "err", err)
		}
		w.hold(-1)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// release gives a saved partition up to the other workers: this worker
// holds more than its share.
func (pt *part) release(ctx context.Context) {
	w := pt.w
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pt.stream.UnpinConsumer(uctx, ConsumerName(pt.p), Group); err != nil {
		w.log.Debug("unpin", "partition", pt.p, "err", err)
		return
	}
	w.log.Info("partition released to balance the workers", "partition", pt.p)
	pt.drop()
	pt.coolUntil = time.Now().Add(min(w.opts.Failover, 5*time.Second))
}

// fail drops the partition's state after an error: it is loaded again
// from its last snapshot when the partition is next delivered.
func (pt *part) fail(err error) {
	if errors.Is(err, errLost) {
		pt.w.log.Info("partition moved to another worker", "partition", pt.p)
	} else {
		pt.w.log.Warn("partition state dropped, reloading from its snapshot", "partition", pt.p, "err", err)
	}
	pt.drop()
}

// drop forgets the partition's state.
func (pt *part) drop() {
	if pt.st != nil {
		pt.w.hold(-1)
		pt.w.m.open.DeleteLabelValues(label(pt.p))
	}
	pt.st, pt.ackable = nil, nil
}

// deliver evaluates one message of the durable consumer.
func (pt *part) deliver(ctx context.Context, msg jetstream.Msg) error {
	meta, err := msg.Metadata()
	if err != nil {
		return err
	}
	seq := meta.Sequence.Stream
	pin := msg.Headers().Get("Nats-Pin-Id")
	if pt.st != nil && pin != "" && pin != pt.st.pin {
		// Pinned anew (this worker stopped pulling for --failover, or
		// another held the partition meanwhile). If no other worker saved
		// the partition since, the state held is still its state: read
		// the events delivered elsewhere and go on; else load the newer
		// state.
		if pt.stillOurs(ctx) {
			pt.st.pin = pin
			pt.w.log.Info("partition pinned anew, state kept", "partition", pt.p, "seq", pt.st.seq)
			if err := pt.catchUpDelivered(ctx, seq); err != nil {
				return err
			}
		} else {
			pt.fail(errLost)
		}
	}
	if pt.st == nil {
		if err := pt.load(ctx, pin, seq); err != nil {
			return err
		}
	}
	pt.lag.Set(float64(meta.NumPending))
	if r := pt.w.rules.Load(); r != pt.st.rules {
		if err := pt.switchRules(r); err != nil {
			return err
		}
	}
	if seq > pt.st.seq {
		pt.evaluate(msg.Subject(), msg.Headers(), msg.Data(), seq, meta.Timestamp)
	}
	pt.ackable = msg
	pt.lastMsg = time.Now()
	return nil
}

// tick records, for a partition idle for IdleAdvance that holds
// correlation state, that its event time moved on by the idle time: a
// message on the partition's tick subject, evaluated like the events (so
// that a replay after a crash closes the same windows at the same point
// of the stream). Without it, the windows of hosts gone quiet would stay
// open, and their alerts unsent, until the partition's next event.
func (pt *part) tick(ctx context.Context) {
	st, w := pt.st, pt.w
	if w.opts.IdleAdvance < 0 || st.newest.IsZero() {
		return
	}
	idle := time.Since(pt.lastMsg)
	if idle < w.opts.IdleAdvance || st.reorder.Len() == 0 && st.proc.Stats().Open == 0 {
		return
	}
	to := st.newest.Add(idle.Truncate(time.Millisecond))
	m := nats.NewMsg(partition.TickSubject(pt.p))
	ns := strconv.FormatInt(to.UnixNano(), 10)
	m.Header.Set(HeaderTick, ns)
	m.Header.Set(HeaderSource, "tick")
	m.Header.Set(jetstream.MsgIDHeader, "vigil-tick-"+strconv.Itoa(pt.p)+"-"+ns)
	if _, err := w.js.PublishMsg(ctx, m, jetstream.WithExpectStream(EventsStream)); err != nil {
		w.log.Warn("idle partition tick", "partition", pt.p, "err", err)
		return
	}
	// Not again before this one is delivered and the partition idles anew.
	pt.lastMsg = time.Now()
	w.log.Debug("idle partition tick", "partition", pt.p, "event_time", to, "idle", idle)
}

// snapshot is a partition's saved state.
type snapshot struct {
	Partition   int             `json:"partition"`
	Seq         uint64          `json:"seq"`
	Counts      counts          `json:"counts"`
	Newest      time.Time       `json:"newest"`
	Pruned      time.Time       `json:"pruned"`
	Correlation json.RawMessage `json:"correlation"`
	Reorderer   json.RawMessage `json:"reorderer"`
	Advisory    json.RawMessage `json:"advisory,omitempty"`
}

// pointer is the state bucket's value for a partition: the snapshot's
// generation (object p<partition>.<gen>) and what it covers.
type pointer struct {
	Owner  string    `json:"owner"` // Options.Name of the worker that saved it
	Gen    uint64    `json:"gen"`
	Seq    uint64    `json:"seq"`
	Counts counts    `json:"counts"`
	Saved  time.Time `json:"saved"`
}

func stateKey(p int) string { return "p" + strconv.Itoa(p) }

func objectName(p int, gen uint64) string {
	return "p" + strconv.Itoa(p) + "." + strconv.FormatUint(gen, 10)
}

// newState returns an empty state for rules.
func (pt *part) newState(r *Rules) *pstate {
	w := pt.w
	st := &pstate{rules: r, reorder: &correlate.Reorderer{Lateness: w.opts.MaxLateness}, open: w.m.open.WithLabelValues(label(pt.p))}
	hopts := hunt.Options{Normalizer: r.Normalizer, Correlations: r.Correlations}
	copts := correlate.Options{MaxGroups: w.opts.MaxGroups, Emit: func(a *alert.Alert) { pt.emit(a) }}
	if r.Advisory {
		st.enrich = advisory.NewEnricher()
		copts.Enrich = st.enrich.Enrich
		// The advisory's process identity (one process across Sysmon and
		// Security logs, guarded against pid reuse), bounded in a stream
		// by the reorderer's lateness; it relearns its starts when the
		// enricher's state is restored.
		ids := st.enrich.Identity()
		ids.Lateness = w.opts.MaxLateness
		copts.Identity = ids
		hopts.Context = func(r *engine.Rule) bool { return advisory.IsContextRule(r.Sigma) }
		en := st.enrich
		skew := w.opts.MaxClockSkew
		hopts.Observe = func(_ *engine.Rule, e *event.Event) {
			// A start dated in the future is not correlated (evaluate):
			// it must not move the process identity's event time either.
			if !e.Time.IsZero() && !st.stored.IsZero() && e.Time.After(st.stored.Add(skew)) {
				return
			}
			en.Record(advisory.ProcessOf(e))
		}
	}
	st.stream = hunt.NewStream(r.Engine, hopts)
	st.proc = correlate.NewProcessor(r.Correlations, copts)
	return st
}

// load reads the partition's last snapshot, then evaluates the events
// stored after it up to the last one delivered to the consumer (to any
// worker): those a previous holder evaluated without saving, and that the
// consumer will not deliver again before --failover.
func (pt *part) load(ctx context.Context, pin string, trigger uint64) error {
	w := pt.w
	r := w.rules.Load()
	st := pt.newState(r)
	st.pin = pin
	entry, err := w.kv.Get(ctx, stateKey(pt.p))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return fmt.Errorf("state pointer: %w", err)
	default:
		var ptr pointer
		if err := json.Unmarshal(entry.Value(), &ptr); err != nil {
			return fmt.Errorf("state pointer %s: %w", stateKey(pt.p), err)
		}
		data, err := w.obs.GetBytes(ctx, objectName(pt.p, ptr.Gen))
		if err != nil {
			return fmt.Errorf("state %s: %w", objectName(pt.p, ptr.Gen), err)
		}
		if err := st.restore(data); err != nil {
			return fmt.Errorf("state %s: %w", objectName(pt.p, ptr.Gen), err)
		}
		st.gen, st.rev = ptr.Gen, entry.Revision()
	}
	st.saved = st.seq
	st.lastSave = time.Now()
	pt.st = st
	w.hold(1)
	st.loaded = time.Now()
	pt.lastMsg = st.loaded
	w.m.takeovers.Inc()
	w.log.Info("partition loaded", "partition", pt.p, "snapshot_seq", st.seq, "evaluated", st.counts.Evaluated)
	return pt.catchUpDelivered(ctx, trigger)
}

// stillOurs reports whether the partition's saved state is the one this
// worker last loaded or saved (no other worker saved it since).
func (pt *part) stillOurs(ctx context.Context) bool {
	entry, err := pt.w.kv.Get(ctx, stateKey(pt.p))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return pt.st.rev == 0
	}
	return err == nil && entry.Revision() == pt.st.rev
}

// catchUpDelivered evaluates the partition's events after the state up to
// the last one the consumer has delivered (to any worker) and trigger:
// those delivered elsewhere and not saved, which the consumer would only
// deliver again after --failover.
func (pt *part) catchUpDelivered(ctx context.Context, trigger uint64) error {
	w, st := pt.w, pt.st
	info, err := pt.cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("consumer info: %w", err)
	}
	// The consumer's delivered sequence can be past the partition's last
	// event (it skips other partitions' events): catch up to that event
	// at most, or the catch-up would wait for one that never comes.
	target := max(info.Delivered.Stream, trigger)
	last, err := pt.stream.GetLastMsgForSubject(ctx, partition.Filter(pt.p))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		target = 0
	case err != nil:
		return fmt.Errorf("last event of the partition: %w", err)
	default:
		target = min(target, last.Sequence)
	}
	if target > st.seq {
		w.log.Info("partition catching up", "partition", pt.p, "from", st.seq, "to", target)
		if err := pt.catchUp(ctx, target); err != nil {
			return err
		}
	}
	return nil
}

// catchUp evaluates the partition's stored events after the state up to
// the stream sequence target, reading the stream directly.
func (pt *part) catchUp(ctx context.Context, target uint64) error {
	w := pt.w
	reader := func() (jetstream.Consumer, error) {
		oc, err := w.js.OrderedConsumer(ctx, EventsStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{partition.Filter(pt.p)},
			DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:    pt.st.seq + 1,
		})
		if err != nil {
			return nil, fmt.Errorf("catch-up consumer: %w", err)
		}
		return oc, nil
	}
	oc, err := reader()
	if err != nil {
		return err
	}
	empty := 0 // fetches in a row that brought nothing
	for pt.st.seq < target {
		batch, err := oc.Fetch(w.opts.Batch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("catch-up: %w", err)
		}
		n := 0
		var pending uint64
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				return err
			}
			n++
			pending = meta.NumPending
			if meta.Sequence.Stream > pt.st.seq {
				pt.evaluate(msg.Subject(), msg.Headers(), msg.Data(), meta.Sequence.Stream, meta.Timestamp)
			}
		}
		if err := pt.publish(ctx); err != nil {
			return err
		}
		// Save on the way: a long catch-up keeps its progress even if
		// the partition moves meanwhile.
		if time.Since(pt.st.lastSave) >= w.opts.SnapshotInterval {
			if err := pt.save(ctx); err != nil {
				return err
			}
		}
		if n > 0 && pending == 0 && pt.st.seq < target {
			// The events up to target are gone (stream limits).
			w.log.Warn("catch-up ended before the last delivered event", "partition", pt.p, "at", pt.st.seq, "target", target)
			break
		}
		if n > 0 {
			empty = 0
		}
		if n == 0 {
			// Nothing yet: a new consumer on a cluster can take a
			// while. Read again with a new one after 3 s, give up
			// (the partition is loaded again later) after 10 s, and
			// stop at once when the events are gone.
			empty++
			switch {
			case empty == 10:
				return fmt.Errorf("catch-up: no event read for 10 s at %d (up to %d)", pt.st.seq, target)
			case empty%3 == 0:
				w.log.Warn("catch-up: nothing read, reading again", "partition", pt.p, "at", pt.st.seq, "target", target)
				if oc, err = reader(); err != nil {
					return err
				}
			}
			info, err := pt.stream.Info(ctx)
			if err != nil {
				return fmt.Errorf("catch-up: %w", err)
			}
			if info.State.FirstSeq > target || info.State.Msgs == 0 {
				w.log.Warn("catch-up: the events up to the last delivered one are gone", "partition", pt.p, "at", pt.st.seq, "target", target)
				break
			}
		}
	}
	return nil
}

// evaluate matches one message's events (JSON Lines) into the state.
func (pt *part) evaluate(subject string, h nats.Header, data []byte, seq uint64, stored time.Time) {
	w, st := pt.w, pt.st
	st.received = stored
	st.stored = stored
	if v := h.Get(HeaderReceived); v != "" {
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
			st.received = time.Unix(0, ns)
		}
	}
	if v := h.Get(HeaderTick); v != "" {
		// An idle partition's tick: event time moves on, no event. A
		// tick that is not a time, or dated past what an event may be
		// (it would close every window), is logged and left out.
		ns, err := strconv.ParseInt(v, 10, 64)
		t := time.Unix(0, ns).UTC()
		switch {
		case err != nil || t.After(stored.Add(w.opts.MaxClockSkew)):
			w.log.Warn("tick ignored", "partition", pt.p, "stream_seq", seq, HeaderTick, v, "stored", stored)
		case t.After(st.newest) && !st.newest.IsZero():
			st.newest = t
			wm := st.newest.Add(-w.opts.MaxLateness)
			st.reorder.Release(wm, st.proc.Process)
			st.proc.Advance(wm)
		}
		st.seq = seq
		st.open.Set(float64(st.proc.Stats().Open))
		return
	}
	src := h.Get(HeaderSource)
	if src == "" {
		src = subject
	}
	line := int64(0)
	for len(data) > 0 {
		var rec []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			rec, data = data[:i], data[i+1:]
		} else {
			rec, data = data, nil
		}
		line++
		rec = bytes.TrimSpace(rec)
		if len(rec) == 0 {
			continue
		}
		evSeq := seq<<lineBits | uint64(min(line, 1<<lineBits-1))
		res, err := st.stream.Line(rec, event.Source{Path: src, Line: line, RecordID: seq}, evSeq)
		st.counts.Evaluated++
		pt.evaluated.Inc()
		if err != nil {
			st.counts.Problems++
			w.m.problems.Inc()
			w.log.Warn("unparsable event", "partition", pt.p, "stream_seq", seq, "line", line, "source", src, "err", err)
			if res.Alerts == nil && res.Correlate == nil {
				continue
			}
		}
		late := false
		// An event dated more than MaxClockSkew after it was stored (a
		// host with a broken clock) would move the watermark past every
		// real event: it is matched by single-event rules but not
		// correlated, and counted. Storage time is part of the stored
		// event, so a replay decides alike.
		future := !res.Time.IsZero() && res.Time.After(stored.Add(w.opts.MaxClockSkew))
		if future {
			st.counts.Future++
			w.m.future.Inc()
			if time.Since(pt.warned) > time.Minute {
				pt.warned = time.Now()
				w.log.Warn("event dated in the future, not correlated", "partition", pt.p, "stream_seq", seq, "line", line,
					"time", res.Time, "stored", stored, "future_events", st.counts.Future)
			}
		} else if !res.Time.IsZero() {
			if !st.newest.IsZero() && res.Time.Before(st.newest.Add(-w.opts.MaxLateness)) {
				late = true
				st.counts.Late++
				w.m.late.Inc()
			}
			if res.Time.After(st.newest) {
				st.newest = res.Time
			}
			// Forget old process starts as event time moves on (a
			// function of the events alone, so a replay prunes alike).
			if st.enrich != nil && st.newest.Sub(st.pruned) >= w.opts.AncestryRetention/16 {
				st.enrich.Prune(st.newest.Add(-w.opts.AncestryRetention))
				st.pruned = st.newest
			}
		}
		for _, a := range res.Alerts {
			pt.emit(a)
		}
		for _, m := range res.Correlate {
			if future {
				continue
			}
			if late {
				w.log.Info("late event for correlation", "partition", pt.p, "stream_seq", seq, "line", line, "rule", m.Rule.Title,
					"host", m.Host, "time", m.Time, "watermark", st.newest.Add(-w.opts.MaxLateness))
			}
			st.reorder.Add(m, st.proc.Process)
		}
		// The watermark follows every event, not only matches: windows
		// close and held matches are released as the partition's event
		// time moves on.
		if !st.newest.IsZero() {
			wm := st.newest.Add(-w.opts.MaxLateness)
			st.reorder.Release(wm, st.proc.Process)
			st.proc.Advance(wm)
		}
	}
	st.seq = seq
	st.open.Set(float64(st.proc.Stats().Open))
}

// emit queues an alert for publication.
func (pt *part) emit(a *alert.Alert) {
	st := pt.st
	if st.rules.Hidden[a.Rule.ID] {
		return
	}
	id, err := AlertID(a)
	if err != nil {
		pt.w.log.Error("alert id", "rule", a.Rule.ID, "err", err)
		return
	}
	data, err := marshalAlert(id, a)
	if err != nil {
		pt.w.log.Error("alert", "rule", a.Rule.ID, "err", err)
		return
	}
	st.pending = append(st.pending, pendingAlert{id: id, level: a.Rule.Level, rule: a.Rule.ID, data: data, received: st.received})
}

// marshalAlert is the JSON of Alert{id, a}: encoding/json's bytes (the
// alert package's encoder writes them, docs/alerts.md) with the id first.
func marshalAlert(id string, a *alert.Alert) ([]byte, error) {
	// An id is hexadecimal (AlertID): quoted alike by Go and JSON.
	prefix := `{"id":` + strconv.Quote(id) + `,`
	b, err := alert.AppendJSON([]byte(prefix), a)
	if err != nil {
		return nil, err
	}
	// The alert's object follows the prefix: drop its '{'.
	return append(b[:len(prefix)], b[len(prefix)+1:]...), nil
}

// AlertSubject returns the subject of an alert of a level.
func AlertSubject(level string) string {
	if level == "" {
		level = "none"
	}
	return AlertsPrefix + partition.Token(level)
}

// publish publishes the queued alerts and waits for the alerts stream to
// store them (or drop them as duplicates).
func (pt *part) publish(ctx context.Context) error {
	st := pt.st
	if len(st.pending) == 0 {
		return nil
	}
	w := pt.w
	futures := make([]jetstream.PubAckFuture, len(st.pending))
	for i, a := range st.pending {
		m := nats.NewMsg(AlertSubject(a.level))
		m.Data = a.data
		m.Header.Set(jetstream.MsgIDHeader, a.id)
		f, err := w.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("publishing alert %s: %w", a.id, err)
		}
		futures[i] = f
	}
	for i, f := range futures {
		a := st.pending[i]
		var ack *jetstream.PubAck
		select {
		case ack = <-f.Ok():
		case err := <-f.Err():
			// One synchronous retry: the id makes it harmless.
			m := f.Msg()
			var err2 error
			if ack, err2 = w.js.PublishMsg(ctx, m); err2 != nil {
				return fmt.Errorf("publishing alert %s: %w (then %w)", a.id, err, err2)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ack.Duplicate {
			w.m.alerts.WithLabelValues(a.rule, a.level).Inc()
			st.counts.Alerts++
			if !a.received.IsZero() {
				w.m.latency.Observe(time.Since(a.received).Seconds())
			}
		}
	}
	st.pending = st.pending[:0]
	return nil
}

// save writes the state's snapshot and moves the pointer to it, then
// acknowledges the events it covers.
func (pt *part) save(ctx context.Context) error {
	st, w := pt.st, pt.w
	if st.seq == st.saved {
		pt.ack(st.saved)
		return nil
	}
	start := time.Now()
	data, err := st.marshal(pt.p)
	if err != nil {
		return err
	}
	gen := st.gen + 1
	if _, err := w.obs.PutBytes(ctx, objectName(pt.p, gen), data); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	ptr, err := json.Marshal(pointer{Owner: w.opts.Name, Gen: gen, Seq: st.seq, Counts: st.counts, Saved: time.Now().UTC()})
	if err != nil {
		return err
	}
	var rev uint64
	if st.rev == 0 {
		rev, err = w.kv.Create(ctx, stateKey(pt.p), ptr)
	} else {
		rev, err = w.kv.Update(ctx, stateKey(pt.p), ptr, st.rev)
	}
	if err != nil {
		_ = w.obs.Delete(ctx, objectName(pt.p, gen))
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
			return errLost
		}
		return fmt.Errorf("saving state pointer: %w", err)
	}
	if st.gen > 0 {
		if err := w.obs.Delete(ctx, objectName(pt.p, st.gen)); err != nil {
			w.log.Debug("deleting old snapshot", "partition", pt.p, "err", err)
		}
	}
	st.gen, st.rev, st.saved, st.lastSave = gen, rev, st.seq, time.Now()
	pt.ack(st.saved)
	w.m.snapshots.Observe(time.Since(start).Seconds())
	return nil
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// ack acknowledges, through the newest delivered message the snapshot
// covers, every event up to it (the consumers' policy is AckAll).
func (pt *part) ack(saved uint64) {
	if pt.ackable == nil {
		return
	}
	meta, err := pt.ackable.Metadata()
	if err != nil || meta.Sequence.Stream > saved {
		return
	}
	if err := pt.ackable.Ack(); err != nil {
		pt.w.log.Debug("ack", "partition", pt.p, "err", err)
	}
	pt.ackable = nil
}

// switchRules carries the state over to a new rule set.
func (pt *part) switchRules(r *Rules) error {
	old := pt.st
	data, err := old.marshal(pt.p)
	if err != nil {
		return err
	}
	st := pt.newState(r)
	if err := st.restore(data); err != nil {
		return err
	}
	st.saved, st.pin, st.gen, st.rev, st.lastSave = old.saved, old.pin, old.gen, old.rev, old.lastSave
	pt.st = st
	pt.w.log.Info("rules switched", "partition", pt.p)
	return nil
}

func (st *pstate) marshal(p int) ([]byte, error) {
	s := snapshot{Partition: p, Seq: st.seq, Counts: st.counts, Newest: st.newest, Pruned: st.pruned}
	var err error
	if s.Correlation, err = st.proc.MarshalState(); err != nil {
		return nil, err
	}
	if s.Reorderer, err = st.reorder.MarshalState(); err != nil {
		return nil, err
	}
	if st.enrich != nil {
		if s.Advisory, err = st.enrich.MarshalState(); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	if err := json.NewEncoder(zw).Encode(&s); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (st *pstate) restore(data []byte) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return err
	}
	var s snapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	st.seq, st.counts, st.newest, st.pruned = s.Seq, s.Counts, s.Newest, s.Pruned
	if err := st.proc.UnmarshalState(s.Correlation); err != nil {
		return err
	}
	if err := st.reorder.UnmarshalState(s.Reorderer, st.rules.Correlations); err != nil {
		return err
	}
	if st.enrich != nil && len(s.Advisory) > 0 {
		if err := st.enrich.UnmarshalState(s.Advisory); err != nil {
			return err
		}
	}
	return nil
}
