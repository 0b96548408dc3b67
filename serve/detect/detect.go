// Package detect is vigil serve's detection worker: it consumes the
// events stream (VIGIL_EVENTS) partition by partition, matches every event
// with hunt's code path (hunt.Stream: the same engine, mapping normalizer,
// context rules and correlation feed as vigil hunt), correlates on event
// time with a watermark (correlate.Reorderer and Processor, --max-lateness),
// adds the advisory context, and publishes each alert once to the alerts
// stream (VIGIL_ALERTS, subject vigil.alerts.<level>, header Nats-Msg-Id set
// to the alert's deterministic id, AlertID).
//
// Each partition has one durable pull consumer (EnsureConsumers) in a
// priority group with the pinned_client policy: every worker pulls from
// every partition, the server delivers a partition to one of them at a
// time, and moves it to another when the pinned one stops pulling for
// --failover. A worker keeps, per partition it holds, the reorderer, the
// correlation processor and the advisory's process starts, and saves them
// (a snapshot with the stream sequence it covers, in a JetStream object
// store, behind a key-value pointer updated by compare-and-set) before it
// acknowledges the events the snapshot covers. After a crash or a
// failover, the new holder loads the snapshot and reads the events after
// it again, so every stored event is evaluated exactly once into the
// state, and alerts found again carry the ids already published, which
// the alerts stream drops as duplicates. docs/serve-detection.md gives the
// argument.
package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/serve/partition"
	"github.com/vigil-detect/vigil/serve/streams"
)

// Names in JetStream shared with the rest of vigil serve (the contract
// is package streams'; these name it for the worker).
const (
	// EventsStream is the stream ingest stores events in.
	EventsStream = streams.Events
	// AlertsStream is the stream alerts are published to.
	AlertsStream = streams.Alerts
	// AlertsPrefix starts the subject of an alert: vigil.alerts.<level>.
	AlertsPrefix = streams.AlertsPrefix
	// PartitionsKey is the events stream's metadata key holding the
	// partition count.
	PartitionsKey = streams.MetaPartitions
	// Group is the priority group every worker pulls in.
	Group = "vigil"
	// StateBucket is the key-value bucket of the snapshot pointers (key
	// p<partition>); StateObjects the object store of the snapshots.
	StateBucket  = "vigil-detect"
	StateObjects = "vigil-detect-state"

	// Header names on event messages (set by ingest).
	HeaderReceived = streams.HeaderReceived // receipt time, Unix nanoseconds
	HeaderSource   = streams.HeaderSource   // input name
	HeaderTick     = streams.HeaderTick     // a tick's event time, Unix nanoseconds
)

// Defaults of Options.
const (
	DefaultMaxLateness      = 30 * time.Second
	DefaultFailover         = 30 * time.Second
	DefaultSnapshotInterval = time.Second
	DefaultBatch            = 256
	// DefaultMaxClockSkew is Options.MaxClockSkew's default.
	DefaultMaxClockSkew = 24 * time.Hour
	// DefaultAncestryRetention is Options.AncestryRetention's default.
	DefaultAncestryRetention = 24 * time.Hour
	// DefaultMaxAckPending bounds the events a partition holds delivered
	// but not yet covered by a snapshot.
	DefaultMaxAckPending = 1 << 16
)

// ConsumerName returns the durable consumer of partition p.
func ConsumerName(p int) string { return "vigil-detect-" + strconv.Itoa(p) }

// Rules is a compiled rule set as vigil hunt loads it. It is immutable
// and shared by every partition of a worker.
type Rules struct {
	Engine       *engine.Engine
	Normalizer   *mapping.Normalizer
	Correlations *correlate.Set
	// Advisory is true when the built-in advisory rules are loaded: their
	// context rules record process starts, and their correlation alerts
	// get the advisory's context (as in vigil hunt).
	Advisory bool
	// Hidden are the ids of rules loaded only for the correlations that
	// read them, whose own alerts are not published.
	Hidden map[string]bool
}

// Options configure a Worker. Zero values take the defaults.
type Options struct {
	// Partitions is the events stream's partition count; 0 reads it from
	// the stream's metadata (PartitionsKey).
	Partitions int
	// MaxLateness is the watermark's distance behind the newest event
	// time of a partition (--max-lateness).
	MaxLateness time.Duration
	// IdleAdvance is the wall-clock time after which a partition that
	// received nothing while holding correlation state (matches behind
	// the watermark, open groups) records a tick moving its event time on
	// by the time it was idle, so that those windows close and their
	// alerts fire without waiting for the next event (default
	// MaxLateness; negative: never, event time moves with events only).
	IdleAdvance time.Duration
	// Failover is the time after which a silent worker's partitions move
	// to another (PinnedTTL and AckWait of the consumers, --failover).
	Failover time.Duration
	// SnapshotInterval is how often a busy partition's state is saved and
	// its events acknowledged; an idle partition is saved at once.
	SnapshotInterval time.Duration
	// Batch is the most events messages fetched at once. A fetch is also
	// bounded to twice the server's largest message in bytes, so that a
	// worker pulls often even when each message holds a shipper's whole
	// batch of one host (Winlogbeat: 2,048 events): a worker that does not
	// pull for --failover loses its partitions.
	Batch int
	// MaxAckPending is the consumers' max_ack_pending.
	MaxAckPending int
	// MaxClockSkew is how far past its storage time an event may be dated
	// and still be correlated (default 24 h).
	MaxClockSkew time.Duration
	// AncestryRetention is how long (in event time, behind a partition's
	// newest event) the advisory's process starts are kept for the
	// ancestry of alerts (default 24 h).
	AncestryRetention time.Duration
	// MaxGroups caps each partition's correlation groups
	// (correlate.Options.MaxGroups).
	MaxGroups int
	// Replicas of the state bucket and object store (1 by default).
	Replicas int
	// Name identifies the worker in the state pointers and logs (default
	// host name and process id).
	Name string
	// Logger receives the worker's logs; nil discards them.
	Logger *slog.Logger
	// Registerer, when set, gets the worker's Prometheus collectors.
	Registerer prometheus.Registerer
}

func (o *Options) defaults() {
	if o.MaxLateness <= 0 {
		o.MaxLateness = DefaultMaxLateness
	}
	if o.IdleAdvance == 0 {
		o.IdleAdvance = o.MaxLateness
	}
	if o.Failover <= 0 {
		o.Failover = DefaultFailover
	}
	if o.SnapshotInterval <= 0 {
		o.SnapshotInterval = DefaultSnapshotInterval
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.MaxClockSkew <= 0 {
		o.MaxClockSkew = DefaultMaxClockSkew
	}
	if o.AncestryRetention <= 0 {
		o.AncestryRetention = DefaultAncestryRetention
	}
	if o.MaxAckPending <= 0 {
		o.MaxAckPending = DefaultMaxAckPending
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		h, _ := os.Hostname()
		o.Name = h + ":" + strconv.Itoa(os.Getpid())
	}
}

// Partitions reads the partition count from the events stream's metadata.
func Partitions(ctx context.Context, js jetstream.JetStream) (int, error) {
	s, err := js.Stream(ctx, EventsStream)
	if err != nil {
		return 0, fmt.Errorf("events stream %s: %w", EventsStream, err)
	}
	return streams.PartitionsOf(s.CachedInfo().Config)
}

// ConsumerConfig returns the durable consumer of partition p.
func ConsumerConfig(p int, o Options) jetstream.ConsumerConfig {
	o.defaults()
	return jetstream.ConsumerConfig{
		Durable:        ConsumerName(p),
		Description:    "vigil serve detection, partition " + strconv.Itoa(p),
		FilterSubject:  partition.Filter(p),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckAllPolicy,
		AckWait:        o.Failover,
		MaxDeliver:     -1,
		MaxAckPending:  o.MaxAckPending,
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PinnedTTL:      o.Failover,
		PriorityGroups: []string{Group},
		Replicas:       o.Replicas,
	}
}

// EnsureConsumers creates the partitions' durable consumers, the state
// bucket and the state object store, or checks that existing ones have
// the expected configuration: a conflicting one is an error, never
// changed silently.
func EnsureConsumers(ctx context.Context, js jetstream.JetStream, n int, o Options) error {
	o.defaults()
	s, err := js.Stream(ctx, EventsStream)
	if err != nil {
		return fmt.Errorf("events stream %s: %w", EventsStream, err)
	}
	for p := range n {
		want := ConsumerConfig(p, o)
		c, err := s.Consumer(ctx, want.Durable)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			if _, err := s.CreateConsumer(ctx, want); err != nil {
				return fmt.Errorf("consumer %s: %w", want.Durable, err)
			}
			continue
		case err != nil:
			return fmt.Errorf("consumer %s: %w", want.Durable, err)
		}
		if err := sameConsumer(c.CachedInfo().Config, want); err != nil {
			return fmt.Errorf("consumer %s exists with another configuration: %w (delete it or start with the same --partitions, --failover and --replicas)", want.Durable, err)
		}
	}
	if _, err := js.KeyValue(ctx, StateBucket); errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: StateBucket, Description: "vigil serve detection: snapshot pointer per partition",
			History: 1, Storage: jetstream.FileStorage, Replicas: o.Replicas})
		if err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return fmt.Errorf("state bucket %s: %w", StateBucket, err)
		}
	} else if err != nil {
		return fmt.Errorf("state bucket %s: %w", StateBucket, err)
	}
	if _, err := js.ObjectStore(ctx, StateObjects); errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: StateObjects, Description: "vigil serve detection: partition state snapshots",
			Storage: jetstream.FileStorage, Replicas: o.Replicas})
		if err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return fmt.Errorf("state object store %s: %w", StateObjects, err)
		}
	} else if err != nil {
		return fmt.Errorf("state object store %s: %w", StateObjects, err)
	}
	return nil
}

func sameConsumer(got, want jetstream.ConsumerConfig) error {
	switch {
	case got.FilterSubject != want.FilterSubject:
		return fmt.Errorf("filter %q, want %q", got.FilterSubject, want.FilterSubject)
	case got.AckPolicy != want.AckPolicy:
		return fmt.Errorf("ack policy %v, want %v", got.AckPolicy, want.AckPolicy)
	case got.PriorityPolicy != want.PriorityPolicy || len(got.PriorityGroups) != 1 || got.PriorityGroups[0] != Group:
		return fmt.Errorf("priority policy %v groups %v, want pinned_client [%s]", got.PriorityPolicy, got.PriorityGroups, Group)
	case got.PinnedTTL != want.PinnedTTL:
		return fmt.Errorf("pinned TTL %v, want %v (--failover)", got.PinnedTTL, want.PinnedTTL)
	case got.AckWait != want.AckWait:
		return fmt.Errorf("ack wait %v, want %v (--failover)", got.AckWait, want.AckWait)
	case got.MaxAckPending != want.MaxAckPending:
		return fmt.Errorf("max ack pending %d, want %d", got.MaxAckPending, want.MaxAckPending)
	}
	return nil
}

// Worker runs detection over every partition of the events stream that
// the server pins to it.
type Worker struct {
	held    atomic.Int64 // partitions held
	share   atomic.Int64 // partitions per live worker, rounded up
	release atomic.Int64 // partitions to give up to balance the workers
	js      jetstream.JetStream
	opts    Options
	rules   atomic.Pointer[Rules]
	m       *metrics
	log     *slog.Logger
	kv      jetstream.KeyValue
	obs     jetstream.ObjectStore
	n       int
	// fetchBytes bounds a fetch: twice the server's largest message.
	fetchBytes int
}

// New returns a worker on js with rules. The streams must exist; New
// creates or checks the consumers and state buckets (EnsureConsumers).
func New(ctx context.Context, js jetstream.JetStream, rules *Rules, opts Options) (*Worker, error) {
	opts.defaults()
	if rules == nil || rules.Engine == nil {
		return nil, errors.New("detect: no rules")
	}
	n := opts.Partitions
	if n <= 0 {
		var err error
		if n, err = Partitions(ctx, js); err != nil {
			return nil, err
		}
	}
	// A cluster's meta leader may be busy (several workers starting at
	// once, an election): such errors are retried for 30 s or --failover.
	for deadline := time.Now().Add(max(opts.Failover, 30*time.Second)); ; {
		err := EnsureConsumers(ctx, js, n, opts)
		if err == nil {
			break
		}
		if !isTransient(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		opts.Logger.Warn("creating consumers and state buckets failed, retrying", "err", err)
		sleep(ctx, 500*time.Millisecond)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("detect metrics: %w", err)
	}
	w := &Worker{js: js, opts: opts, m: m, log: opts.Logger.With("worker", opts.Name), n: n}
	w.fetchBytes = 2*int(max(js.Conn().MaxPayload(), 1<<20)) + 64<<10
	w.rules.Store(rules)
	if w.kv, err = js.KeyValue(ctx, StateBucket); err != nil {
		return nil, err
	}
	if w.obs, err = js.ObjectStore(ctx, StateObjects); err != nil {
		return nil, err
	}
	return w, nil
}

// SetRules replaces the rule set: each partition switches before its next
// event, carrying its correlation state over (groups of correlations that
// are gone are dropped).
func (w *Worker) SetRules(r *Rules) { w.rules.Store(r) }

// Run processes the partitions pinned to this worker until ctx is done,
// then drains: the batch in hand is finished, its alerts published, the
// state saved and acknowledged, and the partitions unpinned so that
// another worker takes them at once. It returns nil after a drain.
func (w *Worker) Run(ctx context.Context) error {
	s, err := w.js.Stream(ctx, EventsStream)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	hctx, stopHeartbeat := context.WithCancel(ctx)
	defer stopHeartbeat()
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.heartbeat(hctx)
	}()
	errs := make([]error, w.n)
	for p := range w.n {
		c, err := s.Consumer(ctx, ConsumerName(p))
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pt := newPart(w, p, c, s)
			errs[p] = pt.run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// hold counts partitions taken (1) or given up (-1).
func (w *Worker) hold(d int64) {
	w.held.Add(d)
	w.m.owned.Set(float64(w.held.Load()))
}

// atShare reports whether the worker holds its share of the partitions.
func (w *Worker) atShare() bool {
	s := w.share.Load()
	return s > 0 && w.held.Load() >= s
}

// shouldRelease takes one partition from the release budget.
func (w *Worker) shouldRelease() bool {
	for {
		r := w.release.Load()
		if r <= 0 {
			return false
		}
		if w.release.CompareAndSwap(r, r-1) {
			return true
		}
	}
}

// heartbeatKey is the state bucket's key of a worker's heartbeat.
func heartbeatKey(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return "w." + string(b)
}

// heartbeat records that the worker is alive every --failover/4 and works
// out its share of the partitions: the partition count divided by the
// workers alive (heartbeat within --failover), rounded up. A worker
// holding more gives one partition up per beat; one holding its share
// asks for the others' partitions last, so that a released partition
// goes to a worker below its share.
func (w *Worker) heartbeat(ctx context.Context) {
	every := max(w.opts.Failover/4, 100*time.Millisecond)
	key := heartbeatKey(w.opts.Name)
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = w.kv.Delete(dctx, key)
	}()
	for {
		if _, err := w.kv.Put(ctx, key, []byte(w.opts.Name)); err != nil && ctx.Err() == nil {
			w.log.Debug("heartbeat", "err", err)
		}
		live := 0
		if lister, err := w.kv.ListKeysFiltered(ctx, "w.>"); err == nil {
			for k := range lister.Keys() {
				e, err := w.kv.Get(ctx, k)
				if err == nil && time.Since(e.Created()) < w.opts.Failover {
					live++
				}
			}
		}
		if live > 0 {
			share := int64((w.n + live - 1) / live)
			w.share.Store(share)
			w.release.Store(max(0, w.held.Load()-share))
		}
		sleep(ctx, every)
		if ctx.Err() != nil {
			return
		}
	}
}

// isTransient reports errors of a JetStream busy or electing a leader.
func isTransient(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoHeartbeat) || errors.As(err, &apiErr) && apiErr.Code == 503
}
