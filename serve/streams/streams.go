// Package streams defines the two JetStream streams of vigil serve — the
// events stream that ingest writes and detection reads, and the alerts
// stream that detection writes — and creates them or checks that existing
// ones agree with what vigil needs (docs/serve.md, "The contract").
//
// An existing stream whose configuration conflicts with the options is
// never changed: Ensure returns a *ConflictError naming each field, so that
// an operator decides (edit the stream, or start vigil with its values).
package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The names and subjects of the contract.
const (
	// Events is the events stream; ingest publishes to
	// vigil.events.<partition>.<host> (package partition), producers may
	// publish to other vigil.events subjects (repartitioned by ingest).
	Events         = "VIGIL_EVENTS"
	EventsSubjects = "vigil.events.>"
	// Alerts is the alerts stream; detection publishes to
	// vigil.alerts.<level> with Nats-Msg-Id set to the alert id.
	Alerts         = "VIGIL_ALERTS"
	AlertsSubjects = "vigil.alerts.>"
	AlertsPrefix   = "vigil.alerts."

	// MetaPartitions is the events stream's metadata key holding the
	// partition count it was created with.
	MetaPartitions = "vigil.partitions"

	// Message headers set by ingest on every events message.
	HeaderReceived = "Vigil-Received" // receive time, Unix nanoseconds, decimal
	HeaderSource   = "Vigil-Source"   // input: http, beats, nats, stdin, plus optional detail
	// HeaderTick marks a tick of an idle partition (no events; its
	// subject is partition.TickSubject): the event time, Unix
	// nanoseconds, decimal, that detection moves the partition's newest
	// event time to.
	HeaderTick = "Vigil-Tick"

	// Defaults.
	DefaultPartitions      = 16
	DefaultEventsMaxAge    = 7 * 24 * time.Hour
	DefaultEventsDuplicate = time.Minute
	DefaultAlertsMaxAge    = 30 * 24 * time.Hour
	DefaultAlertsDuplicate = time.Hour
	// MinAlertsDuplicate is the shortest duplicate window of the alerts
	// stream: a restarted worker republishes alerts it published before a
	// crash, and JetStream drops them by Nats-Msg-Id within the window.
	MinAlertsDuplicate = 10 * time.Minute
)

// Options are the settings of the two streams. Zero values mean: the
// existing stream's value, or the default when the stream is created.
type Options struct {
	// Partitions is the partition count of the events stream, fixed when
	// it is created (stored in its metadata under MetaPartitions).
	Partitions int
	// Replicas of both streams (default 1; a three-node cluster wants 3).
	Replicas int
	// EventsMaxAge is how long events are kept; EventsMaxBytes bounds
	// the stream's size (-1 or 0: no bound). When the stream is full, a
	// publish fails (discard new) and ingest answers 503: backpressure,
	// never a silent drop of unread events.
	EventsMaxAge   time.Duration
	EventsMaxBytes int64
	// AlertsMaxAge is how long alerts are kept; AlertsDuplicate is the
	// alerts stream's duplicate window (at least MinAlertsDuplicate).
	AlertsMaxAge    time.Duration
	AlertsDuplicate time.Duration
}

// Info describes the streams as they are after Ensure.
type Info struct {
	Partitions int
	Events     jetstream.Stream
	Alerts     jetstream.Stream
	// Created lists the streams Ensure created.
	Created []string
}

// ConflictError reports an existing stream whose configuration differs
// from what was asked.
type ConflictError struct {
	Stream string
	Fields []string // "partitions: stream has 16, --partitions asks 32"
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("stream %s exists with a different configuration (not changed): %s; "+
		"start with the stream's values or edit the stream", e.Stream, strings.Join(e.Fields, "; "))
}

// EventsConfig returns the configuration Ensure creates the events stream
// with.
func EventsConfig(o Options) jetstream.StreamConfig {
	o = o.withDefaults()
	maxBytes := o.EventsMaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:        Events,
		Description: "vigil serve: events, partitioned by host",
		Subjects:    []string{EventsSubjects},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxAge:      o.EventsMaxAge,
		MaxBytes:    maxBytes,
		MaxMsgs:     -1,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		Duplicates:  DefaultEventsDuplicate,
		Metadata:    map[string]string{MetaPartitions: strconv.Itoa(o.Partitions)},
	}
}

// AlertsConfig returns the configuration Ensure creates the alerts stream
// with.
func AlertsConfig(o Options) jetstream.StreamConfig {
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:        Alerts,
		Description: "vigil serve: alerts, by level, deduplicated by alert id",
		Subjects:    []string{AlertsSubjects},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.AlertsMaxAge,
		MaxBytes:    -1,
		MaxMsgs:     -1,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		Duplicates:  o.AlertsDuplicate,
		AllowDirect: true,
	}
}

func (o Options) withDefaults() Options {
	if o.Partitions <= 0 {
		o.Partitions = DefaultPartitions
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.EventsMaxAge <= 0 {
		o.EventsMaxAge = DefaultEventsMaxAge
	}
	if o.AlertsMaxAge <= 0 {
		o.AlertsMaxAge = DefaultAlertsMaxAge
	}
	if o.AlertsDuplicate <= 0 {
		o.AlertsDuplicate = DefaultAlertsDuplicate
	}
	return o
}

// Ensure creates the events and alerts streams when they are missing and
// checks existing ones: subjects, storage, retention, and every option
// that is set (non-zero) must agree, else a *ConflictError is returned and
// nothing is changed. Options left zero adopt the existing stream's value.
func Ensure(ctx context.Context, js jetstream.JetStream, o Options) (*Info, error) {
	if o.AlertsDuplicate != 0 && o.AlertsDuplicate < MinAlertsDuplicate {
		return nil, fmt.Errorf("alerts duplicate window %v is shorter than %v", o.AlertsDuplicate, MinAlertsDuplicate)
	}
	if o.Partitions < 0 || o.Replicas < 0 {
		return nil, fmt.Errorf("partitions (%d) and replicas (%d) must be positive", o.Partitions, o.Replicas)
	}
	info := &Info{}
	ev, created, err := ensure(ctx, js, EventsConfig(o), func(have jetstream.StreamConfig) []string {
		return checkEvents(have, o)
	})
	if err != nil {
		return nil, err
	}
	if created {
		info.Created = append(info.Created, Events)
	}
	info.Events = ev
	p, err := PartitionsOf(ev.CachedInfo().Config)
	if err != nil {
		return nil, err
	}
	info.Partitions = p
	al, created, err := ensure(ctx, js, AlertsConfig(o), func(have jetstream.StreamConfig) []string {
		return checkAlerts(have, o)
	})
	if err != nil {
		return nil, err
	}
	if created {
		info.Created = append(info.Created, Alerts)
	}
	info.Alerts = al
	return info, nil
}

// PartitionsOf reads the partition count from the events stream's
// configuration.
func PartitionsOf(cfg jetstream.StreamConfig) (int, error) {
	v, ok := cfg.Metadata[MetaPartitions]
	if !ok {
		return 0, fmt.Errorf("stream %s has no %s metadata: not created by vigil serve", cfg.Name, MetaPartitions)
	}
	p, err := strconv.Atoi(v)
	if err != nil || p <= 0 {
		return 0, fmt.Errorf("stream %s: metadata %s=%q is not a positive number", cfg.Name, MetaPartitions, v)
	}
	return p, nil
}

func ensure(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, check func(jetstream.StreamConfig) []string) (jetstream.Stream, bool, error) {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another vigil created it meanwhile: check theirs.
			s, err = js.Stream(ctx, want.Name)
		} else if err == nil {
			return s, true, nil
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("stream %s: %w", want.Name, err)
	}
	if fields := check(s.CachedInfo().Config); len(fields) > 0 {
		return nil, false, &ConflictError{Stream: want.Name, Fields: fields}
	}
	return s, false, nil
}

func checkCommon(have jetstream.StreamConfig, subjects string, replicas int) []string {
	var f []string
	if !slices.Equal(have.Subjects, []string{subjects}) {
		f = append(f, fmt.Sprintf("subjects: stream has %q, vigil needs [%q]", have.Subjects, subjects))
	}
	if have.Storage != jetstream.FileStorage {
		f = append(f, fmt.Sprintf("storage: stream has %s, vigil needs file", have.Storage))
	}
	if have.Retention != jetstream.LimitsPolicy {
		f = append(f, fmt.Sprintf("retention: stream has %s, vigil needs limits", have.Retention))
	}
	if replicas > 0 && have.Replicas != replicas {
		f = append(f, fmt.Sprintf("replicas: stream has %d, --replicas asks %d", have.Replicas, replicas))
	}
	return f
}

func checkEvents(have jetstream.StreamConfig, o Options) []string {
	f := checkCommon(have, EventsSubjects, o.Replicas)
	p, err := PartitionsOf(have)
	switch {
	case err != nil:
		f = append(f, err.Error())
	case o.Partitions > 0 && p != o.Partitions:
		f = append(f, fmt.Sprintf("partitions: stream has %d, --partitions asks %d (fixed when the stream is created)", p, o.Partitions))
	}
	if o.EventsMaxAge > 0 && have.MaxAge != o.EventsMaxAge {
		f = append(f, fmt.Sprintf("max age: stream has %v, asked %v", have.MaxAge, o.EventsMaxAge))
	}
	if o.EventsMaxBytes != 0 && have.MaxBytes != o.EventsMaxBytes && !(o.EventsMaxBytes < 0 && have.MaxBytes < 0) {
		f = append(f, fmt.Sprintf("max bytes: stream has %d, asked %d", have.MaxBytes, o.EventsMaxBytes))
	}
	if have.Discard != jetstream.DiscardNew {
		f = append(f, "discard: stream discards old messages, vigil needs discard new (a full stream must refuse, not drop unread events)")
	}
	return f
}

func checkAlerts(have jetstream.StreamConfig, o Options) []string {
	f := checkCommon(have, AlertsSubjects, o.Replicas)
	if have.Duplicates < MinAlertsDuplicate {
		f = append(f, fmt.Sprintf("duplicate window: stream has %v, vigil needs at least %v", have.Duplicates, MinAlertsDuplicate))
	} else if o.AlertsDuplicate > 0 && have.Duplicates != o.AlertsDuplicate {
		f = append(f, fmt.Sprintf("duplicate window: stream has %v, asked %v", have.Duplicates, o.AlertsDuplicate))
	}
	if o.AlertsMaxAge > 0 && have.MaxAge != o.AlertsMaxAge {
		f = append(f, fmt.Sprintf("max age: stream has %v, asked %v", have.MaxAge, o.AlertsMaxAge))
	}
	return f
}
