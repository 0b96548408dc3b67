package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	"github.com/vigil-detect/vigil/alert"
)

// Record is one alert as the console shows it.
type Record struct {
	// ID names the alert for triage: the same alert must have the same
	// id on every worker and after a restart (vigil serve's alert id;
	// ID(a) for alerts without one).
	ID string `json:"id"`
	// Alert is the alert's JSON, the contract of docs/alerts.md.
	Alert json.RawMessage `json:"alert"`
}

// AlertSource is where the console reads alerts.
type AlertSource interface {
	// Recent returns up to n of the latest alerts, oldest first.
	Recent(ctx context.Context, n int) ([]Record, error)
	// Subscribe delivers each alert that arrives from now on until ctx
	// ends or the subscriber falls behind; the channel is closed then
	// (the page reconnects and reloads).
	Subscribe(ctx context.Context) (<-chan Record, error)
}

// ID returns an id for an alert that has none: the first 16 bytes of the
// SHA-256 of its JSON, in hex. The JSON of an alert is deterministic (map
// keys sorted), so the same alert gets the same id everywhere.
func ID(a *alert.Alert) string {
	b, _ := json.Marshal(a)
	return idOf(b)
}

// idOf is ID of the alert whose json.Marshal form is b.
func idOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Feed is an in-memory AlertSource that is also an alert.Writer: alerts
// written to it are kept (the last Keep of them) and sent to subscribers.
// A subscriber whose buffer (1024 alerts) is full is cut off.
type Feed struct {
	mu     sync.Mutex
	keep   int
	recent []Record
	subs   map[chan Record]struct{}
}

// NewFeed returns a feed that keeps the last keep alerts (0: 10,000).
func NewFeed(keep int) *Feed {
	if keep <= 0 {
		keep = 10_000
	}
	return &Feed{keep: keep, subs: map[chan Record]struct{}{}}
}

// Write publishes an alert with the id ID(a).
func (f *Feed) Write(a *alert.Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	// b is json.Marshal's own slice: the record keeps it without a copy.
	f.Publish(Record{ID: idOf(b), Alert: b})
	return nil
}

// Close ends every subscription.
func (f *Feed) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		close(ch)
		delete(f.subs, ch)
	}
	return nil
}

// Publish adds a record.
func (f *Feed) Publish(r Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recent = append(f.recent, r)
	if len(f.recent) > f.keep {
		f.recent = append(f.recent[:0], f.recent[len(f.recent)-f.keep:]...)
	}
	for ch := range f.subs {
		select {
		case ch <- r:
		default:
			close(ch)
			delete(f.subs, ch)
		}
	}
}

// Recent implements AlertSource.
func (f *Feed) Recent(_ context.Context, n int) ([]Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n > len(f.recent) || n <= 0 {
		n = len(f.recent)
	}
	return append([]Record{}, f.recent[len(f.recent)-n:]...), nil
}

// Subscribe implements AlertSource.
func (f *Feed) Subscribe(ctx context.Context) (<-chan Record, error) {
	ch := make(chan Record, 1024)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[ch]; ok {
			close(ch)
			delete(f.subs, ch)
		}
	}()
	return ch, nil
}
