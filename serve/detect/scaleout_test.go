package detect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/internal/natstest"
	"github.com/vigil-detect/vigil/serve/detect"
)

// owners reads which worker saved each partition's state last, and when.
func owners(ctx context.Context, js jetstream.JetStream, n int) (map[int]string, map[int]time.Time, error) {
	own, saved := map[int]string{}, map[int]time.Time{}
	kv, err := js.KeyValue(ctx, detect.StateBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return own, saved, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for p := range n {
		e, err := kv.Get(ctx, "p"+strconv.Itoa(p))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		var ptr struct {
			Owner string    `json:"owner"`
			Saved time.Time `json:"saved"`
		}
		if err := json.Unmarshal(e.Value(), &ptr); err != nil {
			return nil, nil, err
		}
		own[p], saved[p] = ptr.Owner, ptr.Saved
	}
	return own, saved, nil
}

// TestScaleOut runs three worker processes on a three-node JetStream
// cluster (streams, consumers and state replicated three times), kills the
// one holding most partitions mid-stream, and requires the alerts of an
// uninterrupted run; it measures the failover: from the SIGKILL to the
// first state saved by another worker, for each partition the killed one
// held.
func TestScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("scale-out test: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	rules := loadRules(t, true, "testdata/rules")
	lines := workload(t, 24, 30, 2)
	want := expectedIDs(t, rules, lines)
	clusterStart := time.Now()
	srvs := natstest.Cluster(t)
	var urls []string
	for _, s := range srvs {
		urls = append(urls, s.ClientURL())
	}
	_, js := connect(t, strings.Join(urls, ","))
	const n = 8
	for {
		actx, acancel := context.WithTimeout(ctx, 3*time.Second)
		err := createStreams(actx, js, n, 3)
		acancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Since(clusterStart) > 30*time.Second {
			t.Fatalf("creating replicated streams: %v (last: %v)", time.Since(clusterStart), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	const failover = 2 * time.Second
	var mu sync.Mutex
	var logs bytes.Buffer
	defer func() {
		if t.Failed() {
			mu.Lock()
			t.Logf("worker logs:\n%s", tail(logs.String(), 80))
			mu.Unlock()
		}
	}()
	workers := map[string]*child{}
	for i := range 3 {
		// each worker prefers its own node
		u := append([]string{urls[i]}, append(urls[:i:i], urls[i+1:]...)...)
		name := fmt.Sprintf("w%d", i+1)
		workers[name] = startChild(t, strings.Join(u, ","), name, failover, &logs, &mu)
	}
	defer func() {
		for _, c := range workers {
			if err := c.term(); err != nil {
				t.Errorf("worker %s after SIGTERM: %v", c.name, err)
			}
		}
	}()
	const publishFor = 14 * time.Second
	pubDone := publishPaced(ctx, js, n, lines, 40, publishFor)
	// The workers share the partitions (8 over 3: 3, 3 and 2).
	began := time.Now()
	var held map[string][]int
	for {
		own, _, err := owners(ctx, js, n)
		if err != nil {
			// the cluster may still be electing leaders
			t.Logf("reading the state pointers: %v", err)
		}
		held = map[string][]int{}
		for p, w := range own {
			held[w] = append(held[w], p)
		}
		balanced := len(held) == 3
		for _, ps := range held {
			balanced = balanced && len(ps) >= 2 && len(ps) <= 3
		}
		if balanced {
			t.Logf("partitions shared %v after the start: %v", time.Since(began).Round(100*time.Millisecond), held)
			break
		}
		if time.Since(began) > publishFor-2*time.Second {
			t.Errorf("partitions not shared after %v: %v", time.Since(began).Round(100*time.Millisecond), held)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Kill mid-stream.
	time.Sleep(time.Until(began.Add(publishFor / 2)))
	victim := ""
	for w, ps := range held {
		if victim == "" || len(ps) > len(held[victim]) || len(ps) == len(held[victim]) && w < victim {
			victim = w
		}
	}
	own, _, err := owners(ctx, js, n)
	if err != nil {
		t.Fatal(err)
	}
	held = map[string][]int{}
	for p, w := range own {
		held[w] = append(held[w], p)
	}
	t.Logf("partitions held before the kill: %v", held)
	if victim == "" || workers[victim] == nil {
		t.Fatalf("no worker holds a partition after %v", publishFor/2)
	}
	killed := time.Now()
	workers[victim].kill()
	delete(workers, victim)
	// Failover: each partition of the victim saved by another worker.
	moved := map[int]time.Duration{}
	for len(moved) < len(held[victim]) && time.Since(killed) < 30*time.Second {
		own, saved, err := owners(ctx, js, n)
		if err != nil {
			t.Logf("reading the state pointers: %v", err)
		}
		for _, p := range held[victim] {
			if _, ok := moved[p]; !ok && own[p] != victim && saved[p].After(killed) {
				moved[p] = saved[p].Sub(killed)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	var worst time.Duration
	for _, d := range moved {
		worst = max(worst, d)
	}
	t.Logf("killed %s holding partitions %v; failover (SIGKILL to first state saved by a survivor, --failover %v): %v per partition, %v at most",
		victim, held[victim], failover, moved, worst.Round(time.Millisecond))
	if len(moved) < len(held[victim]) {
		t.Errorf("partitions of %s not taken over after 30 s: %d of %d", victim, len(moved), len(held[victim]))
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, ctx, js, n, int64(len(lines)), 60*time.Second)
	checkAlerts(t, ctx, js, want)
	own, _, _ = owners(ctx, js, n)
	t.Logf("%d events, %d alerts; partitions at the end: %v", len(lines), len(want), own)
}
