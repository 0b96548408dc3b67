package serve_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/internal/natstest"
	"github.com/vigil-detect/vigil/serve"
	"github.com/vigil-detect/vigil/serve/streams"
)

// TestCluster runs vigil serve against a three-node JetStream cluster on
// loopback, as docs/serve.md describes: the first vigil creates the
// streams with three replicas, a second one (ingest only) checks them, and
// both store events; a conflicting --replicas is refused.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("three NATS servers: not with -short")
	}
	var urls []string
	for _, srv := range natstest.Cluster(t) {
		urls = append(urls, srv.ClientURL())
	}
	nats := strings.Join(urls, ",")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first, err := serve.Start(ctx, serve.Options{NATSURL: nats, Streams: streams.Options{Replicas: 3, Partitions: 4}, HTTPAddr: "127.0.0.1:0", NoDetect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown(context.Background())
	second, err := serve.Start(ctx, serve.Options{NATSURL: nats, HTTPAddr: "127.0.0.1:0", NoDetect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Shutdown(context.Background())
	if second.Partitions() != 4 {
		t.Errorf("second vigil sees %d partitions", second.Partitions())
	}
	f := &fixture{}
	for i, s := range []*serve.Server{first, second} {
		f.base = "http://" + s.HTTPAddr().String()
		body := fmt.Sprintf(`{"Computer":"ws-%d","EventID":1}`, i)
		if code, b := f.do(t, "POST", "/v1/events", "", strings.NewReader(body)); code != 200 || !strings.Contains(b, `"accepted":1`) {
			t.Errorf("vigil %d: %d %s", i+1, code, b)
		}
	}
	_, err = serve.Start(ctx, serve.Options{NATSURL: nats, Streams: streams.Options{Replicas: 1}, NoDetect: true})
	if err == nil || !strings.Contains(err.Error(), "replicas: stream has 3, --replicas asks 1") {
		t.Errorf("conflicting replicas: %v", err)
	}
}
