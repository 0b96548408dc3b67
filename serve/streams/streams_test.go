package streams_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/serve/broker"
	"github.com/vigil-detect/vigil/serve/streams"
)

func start(t *testing.T) *broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func TestEnsure(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	info, err := streams.Ensure(ctx, b.JS, streams.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Partitions != streams.DefaultPartitions || len(info.Created) != 2 {
		t.Fatalf("first Ensure: partitions %d, created %v", info.Partitions, info.Created)
	}
	if d := info.Alerts.CachedInfo().Config.Duplicates; d < streams.MinAlertsDuplicate {
		t.Errorf("alerts duplicate window %v", d)
	}

	// Again, with nothing asked or with the same values: no change.
	for _, o := range []streams.Options{{}, {Partitions: 16, Replicas: 1}} {
		info, err = streams.Ensure(ctx, b.JS, o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if len(info.Created) != 0 || info.Partitions != 16 {
			t.Errorf("%+v: created %v, partitions %d", o, info.Created, info.Partitions)
		}
	}

	for _, c := range []struct {
		o    streams.Options
		want string
	}{
		{streams.Options{Partitions: 32}, "partitions: stream has 16, --partitions asks 32"},
		{streams.Options{Replicas: 3}, "replicas: stream has 1, --replicas asks 3"},
		{streams.Options{AlertsDuplicate: 2 * time.Hour}, "duplicate window: stream has 1h0m0s, asked 2h0m0s"},
	} {
		_, err := streams.Ensure(ctx, b.JS, c.o)
		var ce *streams.ConflictError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want a conflict with %q", c.o, err, c.want)
		}
	}
	if _, err := streams.Ensure(ctx, b.JS, streams.Options{AlertsDuplicate: time.Minute}); err == nil || !strings.Contains(err.Error(), "shorter than") {
		t.Errorf("short duplicate window: %v", err)
	}
	// The failed calls changed nothing.
	s, err := b.JS.Stream(ctx, streams.Events)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := streams.PartitionsOf(s.CachedInfo().Config); p != 16 {
		t.Errorf("partitions changed to %d", p)
	}
}

func TestEnsureForeignStream(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A stream of the same name made by hand, without vigil's metadata and
	// with a too short duplicate window.
	if _, err := b.JS.CreateStream(ctx, jetstream.StreamConfig{Name: streams.Events, Subjects: []string{"vigil.events.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JS.CreateStream(ctx, jetstream.StreamConfig{Name: streams.Alerts, Subjects: []string{"vigil.alerts.>"}, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	_, err := streams.Ensure(ctx, b.JS, streams.Options{})
	for _, want := range []string{"stream VIGIL_EVENTS exists", "no vigil.partitions metadata", "discard new"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	if err := b.JS.DeleteStream(ctx, streams.Events); err != nil {
		t.Fatal(err)
	}
	_, err = streams.Ensure(ctx, b.JS, streams.Options{})
	if err == nil || !strings.Contains(err.Error(), "duplicate window: stream has 1m0s, vigil needs at least 10m0s") {
		t.Errorf("alerts: got %v", err)
	}
}
