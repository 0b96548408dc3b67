package detect_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/serve/detect"
	"github.com/vigil-detect/vigil/serve/partition"
	"github.com/vigil-detect/vigil/sigma"
)

func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// createStreams creates the events and alerts streams as vigil serve does
// (the contract of docs/serve.md).
func createStreams(ctx context.Context, js jetstream.JetStream, partitions, replicas int) error {
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: detect.EventsStream, Subjects: []string{"vigil.events.>"},
		Storage: jetstream.FileStorage, Replicas: replicas, Metadata: map[string]string{detect.PartitionsKey: strconv.Itoa(partitions)}}); err != nil {
		return err
	}
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: detect.AlertsStream, Subjects: []string{"vigil.alerts.>"},
		Storage: jetstream.FileStorage, Replicas: replicas, Duplicates: 10 * time.Minute})
	return err
}

// hostOf reads an event's host as vigil does (Computer, Hostname,
// host.name).
func hostOf(line string) string {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return ""
	}
	for _, k := range []string{"Computer", "Hostname"} {
		if v, ok := m[k].(string); ok {
			return v
		}
	}
	if h, ok := m["host"].(map[string]any); ok {
		if v, ok := h["name"].(string); ok {
			return v
		}
	}
	return ""
}

// publish stores each line as one message on its host's partition subject,
// as ingest does, and returns the number stored.
func publish(ctx context.Context, js jetstream.JetStream, n int, lines []string) (int, error) {
	for i, l := range lines {
		m := nats.NewMsg(partition.Subject(hostOf(l), n))
		m.Data = []byte(l)
		m.Header.Set(detect.HeaderReceived, strconv.FormatInt(time.Now().UnixNano(), 10))
		m.Header.Set(detect.HeaderSource, "test")
		if _, err := js.PublishMsg(ctx, m); err != nil {
			return i, err
		}
	}
	return len(lines), nil
}

// publishPaced publishes lines in batches of step, spread over about
// publishFor, in the background; the channel receives the first error or
// nil when every line is stored.
func publishPaced(ctx context.Context, js jetstream.JetStream, n int, lines []string, step int, publishFor time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		pause := publishFor / time.Duration(len(lines)/step+1)
		for i := 0; i < len(lines); i += step {
			if _, err := publish(ctx, js, n, lines[i:min(i+step, len(lines))]); err != nil {
				done <- err
				return
			}
			time.Sleep(pause)
		}
		done <- nil
	}()
	return done
}

// loadRules compiles rule paths (and the built-in advisory) as vigil hunt
// does.
func loadRules(t testing.TB, builtin bool, paths ...string) *detect.Rules {
	t.Helper()
	r, err := compileRules(builtin, paths...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func compileRules(builtin bool, paths ...string) (*detect.Rules, error) {
	coll := &sigma.Collection{}
	if len(paths) > 0 {
		c, errs := sigma.LoadPaths(paths...)
		if len(errs) > 0 {
			return nil, errs
		}
		coll = c
	}
	if builtin {
		bc, errs := advisory.Rules()
		if len(errs) > 0 {
			return nil, errs
		}
		coll.Add(bc)
	}
	tbl := mapping.Default()
	eng, errs := engine.Compile(coll.Rules, engine.Options{Mapping: tbl, Fields: tbl.Fields().Names()})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	norm, err := mapping.NewNormalizer(tbl.Fields(), tbl, eng.Schema())
	if err != nil {
		return nil, err
	}
	set, cerrs := correlate.Compile(coll.Correlations, coll.Rules)
	if len(cerrs) > 0 {
		return nil, errors.Join(cerrs...)
	}
	return &detect.Rules{Engine: eng, Normalizer: norm, Correlations: set, Advisory: builtin}, nil
}

// readAlerts returns every message of the alerts stream, raw.
func readAlerts(ctx context.Context, js jetstream.JetStream) ([][]byte, error) {
	s, err := js.Stream(ctx, detect.AlertsStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	if info.State.Msgs == 0 {
		return nil, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m.Data)
	}
	return out, nil
}

// committed sums the partitions' saved counts: the events evaluated into
// saved state.
func committed(ctx context.Context, js jetstream.JetStream, n int) (evaluated, late int64, err error) {
	kv, err := js.KeyValue(ctx, detect.StateBucket)
	if err != nil {
		return 0, 0, err
	}
	for p := range n {
		e, err := kv.Get(ctx, "p"+strconv.Itoa(p))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		var ptr struct {
			Counts struct{ Evaluated, Late int64 } `json:"counts"`
		}
		if err := json.Unmarshal(e.Value(), &ptr); err != nil {
			return 0, 0, err
		}
		evaluated += ptr.Counts.Evaluated
		late += ptr.Counts.Late
	}
	return evaluated, late, nil
}

// waitCommitted waits until want events are evaluated into saved state.
func waitCommitted(t testing.TB, ctx context.Context, js jetstream.JetStream, n int, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, _, err := committed(ctx, js, n)
		if err == nil && got == want {
			return
		}
		if got > want {
			t.Fatalf("%d events evaluated, more than the %d stored", got, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d events evaluated of %d stored (err %v)", within, got, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// normalize turns alert JSON into a comparable form: without the id and
// the events' input locations (a stream position in serve, a file line in
// hunt). It returns the id apart.
func normalize(t testing.TB, data []byte) (id, norm string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	id, _ = m["id"].(string)
	delete(m, "id")
	if evs, ok := m["events"].([]any); ok {
		for _, e := range evs {
			delete(e.(map[string]any), "source")
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return id, string(b)
}

func sortedLines(xs []string) string {
	sort.Strings(xs)
	return strings.Join(xs, "\n")
}

func writeLines(t testing.TB, lines []string) string {
	p := t.TempDir() + "/events.jsonl"
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
