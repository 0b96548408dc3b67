package console

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Triage states.
const (
	StateNew           = "new"
	StateAcknowledged  = "acknowledged"
	StateFalsePositive = "false_positive"
	StateResolved      = "resolved"
)

// States are the triage states, in workflow order.
var States = []string{StateNew, StateAcknowledged, StateFalsePositive, StateResolved}

// MaxNote bounds a triage note (bytes).
const MaxNote = 4000

// Triage is an analyst's verdict on one alert.
type Triage struct {
	// ID is the alert's id (Record.ID).
	ID    string `json:"id"`
	State string `json:"state"`
	Note  string `json:"note,omitempty"`
	// Who is the name the analyst signed in with; When the time of the
	// change (set by the console).
	Who  string    `json:"who,omitempty"`
	When time.Time `json:"when,omitzero"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Validate checks the state, the note and the id (which must be usable as
// a key-value key: letters, digits, '-' and '_').
func (t *Triage) Validate() error {
	if !idPattern.MatchString(t.ID) {
		return fmt.Errorf("alert id %q: want 1 to 128 letters, digits, '-' or '_'", t.ID)
	}
	ok := false
	for _, s := range States {
		ok = ok || s == t.State
	}
	if !ok {
		return fmt.Errorf("state %q: want one of %v", t.State, States)
	}
	if len(t.Note) > MaxNote {
		return fmt.Errorf("note of %d bytes: at most %d", len(t.Note), MaxNote)
	}
	return nil
}

// TriageStore keeps the triage state of alerts where every console (every
// vigil serve worker, and the next run after a restart) sees it.
type TriageStore interface {
	// Get returns the triage of an alert; ok is false when it has none
	// (it is new).
	Get(ctx context.Context, id string) (t Triage, ok bool, err error)
	// Set stores a triage (validated by the caller).
	Set(ctx context.Context, t Triage) error
	// List returns every stored triage by alert id.
	List(ctx context.Context) (map[string]Triage, error)
	// Watch delivers every triage stored from now on, by any console,
	// until ctx ends; the channel is then closed.
	Watch(ctx context.Context) (<-chan Triage, error)
}

// Bucket is the JetStream key-value bucket of the triage state.
const Bucket = "vigil_triage"

// KV is the TriageStore on a JetStream key-value bucket (Bucket): one key
// per alert, "a.<alert id>", holding the Triage as JSON, with the last 5
// revisions kept as history. The bucket also holds the console's session
// signing key ("session_key"), so that a session works on every worker
// and survives restarts.
type KV struct {
	kv jetstream.KeyValue
}

const (
	keyPrefix  = "a."
	sessionKey = "session_key"
)

// OpenKV creates the bucket when it does not exist (file storage, with
// the given replicas; 0 means 1) and returns the store.
func OpenKV(ctx context.Context, js jetstream.JetStream, replicas int) (*KV, error) {
	if replicas <= 0 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "vigil console: triage state of alerts",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("triage bucket %s: %w", Bucket, err)
	}
	return &KV{kv: kv}, nil
}

// Get implements TriageStore.
func (s *KV) Get(ctx context.Context, id string) (Triage, bool, error) {
	e, err := s.kv.Get(ctx, keyPrefix+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Triage{}, false, nil
	}
	if err != nil {
		return Triage{}, false, err
	}
	var t Triage
	if err := json.Unmarshal(e.Value(), &t); err != nil {
		return Triage{}, false, fmt.Errorf("triage %s: %w", id, err)
	}
	return t, true, nil
}

// Set implements TriageStore.
func (s *KV) Set(ctx context.Context, t Triage) error {
	if err := t.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = s.kv.Put(ctx, keyPrefix+t.ID, b)
	return err
}

// List implements TriageStore.
func (s *KV) List(ctx context.Context) (map[string]Triage, error) {
	w, err := s.kv.Watch(ctx, keyPrefix+">", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	out := map[string]Triage{}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return out, ctx.Err()
			}
			if e == nil { // the initial values are all delivered
				return out, nil
			}
			var t Triage
			if json.Unmarshal(e.Value(), &t) == nil {
				out[t.ID] = t
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Watch implements TriageStore.
func (s *KV) Watch(ctx context.Context) (<-chan Triage, error) {
	w, err := s.kv.Watch(ctx, keyPrefix+">", jetstream.UpdatesOnly(), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	ch := make(chan Triage, 64)
	go func() {
		defer close(ch)
		defer w.Stop()
		for {
			select {
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				var t Triage
				if json.Unmarshal(e.Value(), &t) != nil {
					continue
				}
				select {
				case ch <- t:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// SessionKey returns the key that signs console sessions, creating a
// random one in the bucket the first time (every worker then reads the
// same key).
func (s *KV) SessionKey(ctx context.Context) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	_, err := s.kv.Create(ctx, sessionKey, key)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("session key: %w", err)
	}
	e, err := s.kv.Get(ctx, sessionKey)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	return e.Value(), nil
}
