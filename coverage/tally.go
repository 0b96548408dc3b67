// Package coverage tells, for each host in a set of logs, which telemetry
// those logs carry (process creation from Sysmon 1, Security 4688 or ECS,
// with or without command lines and parent information; network
// connections from Sysmon 3, Security 5156 or ECS; the time span) and
// whether rules can fire on it at all: a rule is covered, partial (some of
// its selections can never match: what is missing is named) or blind (it
// can never fire), each gap with its remedy — the audit policy, the Sysmon
// configuration element or the Winlogbeat channel to add.
//
// A Tally counts events per host and log source as a hunt reads them (one
// counter set per worker, merged at the end: no locking on the hot path);
// a Checker judges rules and correlations against a host's counts.
// vigil coverage prints the report; vigil hunt names the hosts on which
// every loaded rule was blind.
package coverage

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-detect/vigil/event"
)

// Field is a field whose presence depends on how a host is configured,
// tracked per log source.
type Field int

// The tracked fields.
const (
	CommandLine Field = iota
	ParentImage
	ParentCommandLine
	nFields
)

var fieldNames = [nFields]string{"CommandLine", "ParentImage", "ParentCommandLine"}

func (f Field) String() string { return fieldNames[f] }

// Kind is the kind of telemetry a log source gives, as the report names
// it.
type Kind string

// The kinds the report distinguishes; every other source is KindOther.
const (
	Sysmon1      Kind = "Sysmon 1"
	Security4688 Kind = "Security 4688"
	ECSProcess   Kind = "ECS process start"
	Sysmon3      Kind = "Sysmon 3"
	Security5156 Kind = "Security 5156"
	ECSNetwork   Kind = "ECS network"
	KindOther    Kind = ""
)

// Process reports whether the kind is a process-creation source.
func (k Kind) Process() bool { return k == Sysmon1 || k == Security4688 || k == ECSProcess }

// Network reports whether the kind is a network-connection source.
func (k Kind) Network() bool { return k == Sysmon3 || k == Security5156 || k == ECSNetwork }

// SourceKey is one log source of a host: the channel and event id the
// rules are routed by (for ECS events, those the field mapping gives
// them), and whether the events were ECS without a Windows channel.
type SourceKey struct {
	Channel string // lower case
	EventID string
	ECS     bool
}

// Counts are the events of one log source of a host.
type Counts struct {
	Kind   Kind
	Events int64
	// With counts the events carrying each tracked field.
	With [nFields]int64
}

// Host is what the logs of one host hold.
type Host struct {
	Name        string // as first seen
	Events      int64
	First, Last time.Time
	Sources     map[SourceKey]*Counts
}

// Has reports whether some source of the kind has events.
func (h *Host) Has(k Kind) bool {
	for _, c := range h.Sources {
		if c.Kind == k && c.Events > 0 {
			return true
		}
	}
	return false
}

// Tally counts events per host and log source. Worker returns a counter
// for one goroutine; Hosts merges them once the counting is done.
type Tally struct {
	mu      sync.Mutex
	workers []*worker
}

// NewTally returns an empty tally.
func NewTally() *Tally { return &Tally{} }

type worker struct {
	hosts map[string]*Host // lower-case host name
	// raw finds the counts of a host, channel and event id as the event
	// writes them, without folding case or copying on every event
	raw map[rawKey]entry
	// slots of the fields read, resolved on the first event's schema
	schema                                      *event.Schema
	chSlot, eidSlot, wlSlot, catSlot, hostSlots []int
	fieldSlots                                  [nFields][]int
	// the last source counted, for runs of events of one host and source
	lastKey rawKey
	last    entry
}

type rawKey struct {
	host, ch, eid string
	ecs           bool
}

type entry struct {
	h   *Host
	c   *Counts
	key rawKey // the stored copy of the key
}

// Worker returns a counting function for one goroutine (hunt.Options.Tally).
func (t *Tally) Worker() func(*event.Event) {
	w := &worker{hosts: map[string]*Host{}, raw: map[rawKey]entry{}}
	t.mu.Lock()
	t.workers = append(t.workers, w)
	t.mu.Unlock()
	return w.count
}

func slots(s *event.Schema, names ...string) []int {
	var out []int
	for _, n := range names {
		if i := s.Slot(n); i >= 0 {
			out = append(out, i)
		}
	}
	return out
}

func first(e *event.Event, slots []int) string {
	for _, s := range slots {
		if i := e.First(s); i >= 0 && e.Fields[i].Str != "" {
			return e.Fields[i].Str
		}
	}
	return ""
}

func (w *worker) resolve(s *event.Schema) {
	w.schema = s
	w.chSlot = slots(s, "Channel", "Event.System.Channel")
	w.eidSlot = slots(s, "EventID", "Event.System.EventID")
	w.wlSlot = slots(s, "winlog.channel")
	w.catSlot = slots(s, "event.category")
	w.hostSlots = slots(s, event.HostFields...)
	w.fieldSlots[CommandLine] = slots(s, "CommandLine", "process.command_line")
	w.fieldSlots[ParentImage] = slots(s, "ParentImage", "ParentProcessName", "process.parent.executable")
	w.fieldSlots[ParentCommandLine] = slots(s, "ParentCommandLine", "process.parent.command_line")
}

func (w *worker) count(e *event.Event) {
	if s := e.Schema(); s != w.schema {
		if s == nil {
			return
		}
		w.resolve(s)
	}
	host := first(e, w.hostSlots)
	ch := first(e, w.chSlot)
	eid := first(e, w.eidSlot)
	ecs := len(w.catSlot) > 0 && first(e, w.catSlot) != "" && first(e, w.wlSlot) == ""
	k := rawKey{host, ch, eid, ecs}
	if w.last.c == nil || k != w.lastKey {
		en, ok := w.raw[k]
		if !ok {
			// the event's strings alias the decoder's buffers
			k = rawKey{strings.Clone(host), strings.Clone(ch), strings.Clone(eid), ecs}
			en.h = w.host(strings.ToLower(k.host), k.host)
			sk := SourceKey{Channel: strings.ToLower(k.ch), EventID: k.eid, ECS: ecs}
			en.c = en.h.Sources[sk]
			if en.c == nil {
				en.c = &Counts{Kind: kindOf(sk)}
				en.h.Sources[sk] = en.c
			}
			en.key = k
			w.raw[k] = en
		}
		w.lastKey, w.last = en.key, en
	}
	c, h := w.last.c, w.last.h
	c.Events++
	h.Events++
	if t := e.Time; !t.IsZero() {
		if h.First.IsZero() || t.Before(h.First) {
			h.First = t
		}
		if t.After(h.Last) {
			h.Last = t
		}
	}
	if c.Kind.Process() {
		for f := range nFields {
			if first(e, w.fieldSlots[f]) != "" {
				c.With[f]++
			}
		}
	}
}

func (w *worker) host(key, name string) *Host {
	h := w.hosts[key]
	if h == nil {
		h = &Host{Name: name, Sources: map[SourceKey]*Counts{}}
		w.hosts[key] = h
	}
	return h
}

func kindOf(k SourceKey) Kind {
	switch {
	case k.ECS && k.EventID == "1":
		return ECSProcess
	case k.ECS && k.EventID == "3":
		return ECSNetwork
	case strings.Contains(k.Channel, "sysmon") && k.EventID == "1":
		return Sysmon1
	case strings.Contains(k.Channel, "sysmon") && k.EventID == "3":
		return Sysmon3
	case k.Channel == "security" && k.EventID == "4688":
		return Security4688
	case k.Channel == "security" && k.EventID == "5156":
		return Security5156
	}
	return KindOther
}

// Hosts merges the workers' counts: the hosts by name. Call it once every
// worker is done.
func (t *Tally) Hosts() []*Host {
	t.mu.Lock()
	defer t.mu.Unlock()
	all := map[string]*Host{}
	for _, w := range t.workers {
		for k, h := range w.hosts {
			m := all[k]
			if m == nil {
				all[k] = h
				continue
			}
			if h.Name < m.Name {
				m.Name = h.Name
			}
			m.Events += h.Events
			if !h.First.IsZero() && (m.First.IsZero() || h.First.Before(m.First)) {
				m.First = h.First
			}
			if h.Last.After(m.Last) {
				m.Last = h.Last
			}
			for sk, c := range h.Sources {
				mc := m.Sources[sk]
				if mc == nil {
					m.Sources[sk] = c
					continue
				}
				mc.Events += c.Events
				for f := range nFields {
					mc.With[f] += c.With[f]
				}
			}
		}
		w.hosts = map[string]*Host{}
		w.raw = map[rawKey]entry{}
		w.last = entry{}
	}
	out := make([]*Host, 0, len(all))
	for _, h := range all {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}
