package broker_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-detect/vigil/serve/broker"
)

func TestEmbedded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	b, err := broker.Start(ctx, broker.Options{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !b.Connected() || b.ClientURL() == "" {
		t.Fatalf("connected %v, url %q", b.Connected(), b.ClientURL())
	}
	// Another process reaches it on its loopback listener.
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()

	// A busy port is reported at once, not after the server's timeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	_, err = broker.Start(ctx, broker.Options{DataDir: t.TempDir(), Listen: l.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "address already in use") || time.Since(start) > 5*time.Second {
		t.Errorf("busy port: %v after %v", err, time.Since(start))
	}
	for _, addr := range []string{"0.0.0.0:4222", "10.1.2.3:4222", "[::]:4222"} {
		if _, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir(), Listen: addr}); err == nil || !strings.Contains(err.Error(), "loopback only") {
			t.Errorf("%s: %v", addr, err)
		}
	}
}
