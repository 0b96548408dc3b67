// Package ingest is the front door of vigil serve: it takes events from
// senders (HTTP, the Beats protocol, NATS subjects, standard input), finds
// each event's host, and stores the events in the events stream on their
// host's partition, grouped into JSON Lines messages: per host when the
// host has many events in the batch, else per partition (the messages'
// count, not their bytes, is what JetStream's storing and delivery cost).
//
// Every input acknowledges to its sender only once JetStream has
// acknowledged every message holding the sender's events: an event that
// was acknowledged is stored, and a crash after the acknowledgement loses
// nothing. When storing fails (NATS unreachable, stream full), the sender
// is told to retry (HTTP 503, no Beats ACK) rather than the events being
// dropped. The message layout is the contract of docs/serve.md.
package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/serve/partition"
	"github.com/vigil-detect/vigil/serve/streams"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// Publisher stores events in the events stream. It is safe for concurrent
// use; each Batch is not.
type Publisher struct {
	js         jetstream.JetStream
	partitions int
	maxMessage int
	timeout    time.Duration
}

// NewPublisher returns a publisher to js's events stream with the given
// partition count. Messages are cut at maxMessage bytes (0: 1 MiB, and
// never more than the connection's max payload less room for headers).
func NewPublisher(js jetstream.JetStream, partitions, maxMessage int) *Publisher {
	if maxMessage <= 0 {
		maxMessage = 1 << 20
	}
	if mp := int(js.Conn().MaxPayload()); mp > 0 && maxMessage > mp-4096 {
		maxMessage = mp - 4096
	}
	return &Publisher{js: js, partitions: partitions, maxMessage: maxMessage, timeout: 10 * time.Second}
}

// Partitions is the partition count events are published with.
func (p *Publisher) Partitions() int { return p.partitions }

// ErrTooLarge is the error of an event larger than a message may be.
var ErrTooLarge = errors.New("event larger than the largest NATS message")

// Batch collects events, grouped by host subject, for one Publish.
type Batch struct {
	p       *Publisher
	groups  map[string]*group // by subject
	hosts   map[string]*group // by host name as given to Add
	order   []*group
	msgs    []*nats.Msg
	events  int
	compact bytes.Buffer
	// IDPrefix, when set, makes the messages' Nats-Msg-Id IDPrefix-k
	// (k = 0, 1, ... in publishing order) instead of a content hash.
	IDPrefix string
}

type group struct {
	subject string
	part    int
	buf     []byte
	n       int
	// cut: the group already filled a message (in Batch.msgs).
	cut bool
}

// small reports whether g's events go in a message shared with other
// hosts of its partition, if there are others.
func (g *group) small() bool { return g.n > 0 && !g.cut && g.n < MinHostMessage }

// shared reports whether g's events go in its partition's shared message:
// its host has few events, and so has another host of the partition
// (small counts them per partition).
func shared(g *group, small map[int]int) bool { return g.small() && small[g.part] > 1 }

// MinHostMessage is the number of events of one host in a batch from
// which they get a message (subject) of their own; the events of hosts
// with fewer share one message per partition, on the subject
// partition.MixedSubject (when a partition has one such host, its events
// keep their host subject). A sender of one host's events (a Beats agent)
// fills host messages; a collector relaying a fleet's events, a few per
// host per request, would otherwise make a message of a few events per
// host, and JetStream's cost is per message.
const MinHostMessage = 32

// NewBatch returns an empty batch.
func (p *Publisher) NewBatch() *Batch {
	return &Batch{p: p, groups: map[string]*group{}, hosts: map[string]*group{}}
}

// Len is the number of events added.
func (b *Batch) Len() int { return b.events }

// Add adds one event: a JSON object (line) of the given host. The line is
// copied. A line with newlines in it (a pretty-printed object) has the
// white space between its tokens removed so that it stays one line; its
// content is unchanged.
func (b *Batch) Add(host string, line []byte) error {
	// Two IndexByte calls (vectorized) cost far less than ContainsAny.
	if bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0 {
		b.compact.Reset()
		if err := json.Compact(&b.compact, line); err != nil {
			return err
		}
		line = b.compact.Bytes()
	}
	if len(line)+1 > b.p.maxMessage {
		return fmt.Errorf("%w (%d bytes, at most %d)", ErrTooLarge, len(line), b.p.maxMessage-1)
	}
	g := b.hosts[host]
	if g == nil {
		// A new host name (hosts of one subject share a group).
		subj := partition.Subject(host, b.p.partitions)
		if g = b.groups[subj]; g == nil {
			g = &group{subject: subj, part: partition.Of(host, b.p.partitions), buf: getBuf()}
			b.groups[subj] = g
			b.order = append(b.order, g)
		}
		b.hosts[strings.Clone(host)] = g
	}
	if len(g.buf)+len(line)+1 > b.p.maxMessage {
		b.msgs = append(b.msgs, &nats.Msg{Subject: g.subject, Data: g.buf})
		g.buf, g.n, g.cut = getBuf(), 0, true
	}
	g.buf = append(g.buf, line...)
	g.buf = append(g.buf, '\n')
	g.n++
	b.events++
	return nil
}

// messages returns the batch's messages: the ones cut already, then one
// per host group, except that the hosts of few events (group.small) of a
// partition with several such hosts share one message on the partition's
// mixed subject, in the order the hosts came (each host's events stay in
// order). small counts those hosts per partition. The groups are not
// changed; the shared messages have buffers of their own.
func (b *Batch) messages() (msgs []*nats.Msg, small map[int]int) {
	msgs = append(msgs, b.msgs...)
	for _, g := range b.order {
		if g.small() {
			if small == nil {
				small = map[int]int{}
			}
			small[g.part]++
		}
	}
	var mixed map[int]*nats.Msg
	for _, g := range b.order {
		switch {
		case g.n == 0:
		case !shared(g, small):
			msgs = append(msgs, &nats.Msg{Subject: g.subject, Data: g.buf})
		default:
			m := mixed[g.part]
			if m != nil && len(m.Data)+len(g.buf) > b.p.maxMessage {
				m = nil
			}
			if m == nil {
				if mixed == nil {
					mixed = map[int]*nats.Msg{}
				}
				m = &nats.Msg{Subject: partition.MixedSubject(g.part), Data: getBuf()}
				mixed[g.part] = m
				msgs = append(msgs, m)
			}
			m.Data = append(m.Data, g.buf...)
		}
	}
	return msgs, small
}

// Publish stores the batch's messages, with the source and receive time
// in their headers, and returns once JetStream acknowledged all of them,
// or with the first error. Each message's Nats-Msg-Id is a hash of its
// subject and content, so a sender retrying the same events (as Beats
// does after a lost ACK) within the stream's duplicate window stores
// them once.
func (b *Batch) Publish(ctx context.Context, source string, received time.Time) error {
	// The groups are left as they are until every message is stored: a
	// failed Publish is retried on the same batch, which must build the
	// same messages (same ids) again.
	msgs, small := b.messages()
	if len(msgs) == 0 {
		return nil
	}
	ts := strconv.FormatInt(received.UnixNano(), 10)
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	var err error
	for k, m := range msgs {
		m.Header = nats.Header{streams.HeaderReceived: {ts}, streams.HeaderSource: {source}}
		if b.IDPrefix != "" {
			m.Header.Set(jetstream.MsgIDHeader, b.IDPrefix+"-"+strconv.Itoa(k))
		} else {
			h := sha256.New()
			h.Write([]byte(m.Subject))
			h.Write([]byte{0})
			h.Write(m.Data)
			var sum [sha256.Size]byte
			m.Header.Set(jetstream.MsgIDHeader, hex.EncodeToString(h.Sum(sum[:0])[:16]))
		}
		f, perr := b.p.js.PublishMsgAsync(m, jetstream.WithExpectStream(streams.Events))
		if perr != nil {
			err = perr
			break
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(b.p.timeout)
	defer timeout.Stop()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case e := <-f.Err():
			if err == nil {
				err = e
			}
		case <-timeout.C:
			if err == nil {
				err = errors.New("timed out waiting for JetStream to acknowledge")
			}
			return fmt.Errorf("storing events: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("storing events: %w", err)
	}
	// Every message is acknowledged: the client holds none of them any
	// more (it keeps a message for retries until then), so their buffers
	// can serve the next batches.
	for _, m := range msgs {
		putBuf(m.Data)
	}
	for _, g := range b.order {
		// Groups of no message of their own: empty, or copied into
		// their partition's shared message.
		if g.n == 0 || shared(g, small) {
			putBuf(g.buf)
		}
		g.buf, g.n, g.cut = nil, 0, false
	}
	b.msgs = nil
	return nil
}

// Message buffers are reused across batches: a request of many hosts
// builds as many messages.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

func getBuf() []byte {
	return (*bufPool.Get().(*[]byte))[:0]
}

func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > 2<<20 {
		return
	}
	bufPool.Put(&b)
}

// hostReader finds the host of a JSON event the way hunt does: it decodes
// the event with the jsonl decoder and reads event.HostFields (Computer,
// Hostname, host.name, ...). Not safe for concurrent use.
type hostReader struct {
	dec jsonl.Decoder
	ev  *event.Event
}

func newHostReader() *hostReader {
	// Only the host (and time) fields have slots in this schema: the
	// decoder checks every field but stores only those.
	return &hostReader{dec: jsonl.Decoder{SchemaOnly: true}, ev: event.New(event.NewSchema(nil))}
}

// host decodes line and returns its host; the string is valid until the
// next call.
func (h *hostReader) host(line []byte) (string, error) {
	if err := jsonl.DecodeEvent(&h.dec, line, h.ev); err != nil {
		return "", err
	}
	return h.ev.Host(), nil
}
