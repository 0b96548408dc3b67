package advisory

import (
	"container/heap"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/proctree"
	"github.com/vigil-detect/vigil/sigma"
)

// SameStartWithin is how far apart in event time the records of one
// process start in two logs (Sysmon 1 and Security 4688, Sysmon and its
// ECS copy) may be, and how far apart the records of one connection
// (Sysmon 3 and Security 5156).
const SameStartWithin = 2 * time.Second

// InstanceHorizon is how long, in event time behind the newest match
// identified, Instances keeps process starts and the advisory matches it
// identified. It must cover the advisory's sequences (15 s) and the
// window of the rules reading them (15 s more).
const InstanceHorizon = time.Minute

// Instances tells which process instance an event of the advisory's rules
// belongs to, across logs: a Sysmon or ECS process names itself by a GUID,
// Security 4688 and 5156 only by host and process id, which Windows
// reuses. It is the correlate.Identity of the advisory's correlations.
//
// It learns every process start through Record (the ancestry context rule
// matches them all), in any order, and answers Identify for the matches of
// the advisory's rules in event-time order:
//
//   - starts of one host and process id whose times are within
//     SameStartWithin, with no two different GUIDs and no two Security
//     starts among them (and the same program name when both tell it),
//     are one process: one instance;
//   - a connection with a GUID belongs to the start with that GUID;
//   - otherwise a connection belongs to the latest instance of its host
//     and process id that started at or before it: a start of the id in
//     between (pid reuse) takes the connection from the earlier process.
//     When that instance has a GUID and the connection another one, the
//     connection belongs to neither.
//
// State is bounded by InstanceHorizon of event time behind the newest
// match identified: starts older than that are dropped, and starts recorded
// later than that are counted in Late, kept for the late matches that
// follow them (a stream correlates late events as they come), and dropped
// at the next advance of event time. In a stream, set Lateness (the
// reorderer's) so that Record drops, too, the starts older than
// InstanceHorizon plus Lateness behind the newest start recorded before
// (not the one being recorded: the event that brings it may release older
// matches once matched): between identifications the state stays bounded
// however many starts arrive. Within one hunt, starts are recorded while reading and
// identification runs after, so the hunt (Lateness 0) holds every start
// until then, as it holds the matches it correlates. Safe for concurrent
// use; set Lateness before the first Record.
type Instances struct {
	// Lateness is how late in event time a match may reach Identify
	// after a start of the same time was recorded: a stream's reorderer
	// lateness, when it releases matches as its watermark follows every
	// event (not only matches). 0 means unbounded (a hunt).
	Lateness time.Duration

	mu     sync.Mutex
	newest time.Time            // newest start recorded
	byKey  map[string][]*pstart // host|pid -> starts by time
	byGUID map[string]*pstart   // lower-case GUID -> start
	exp    startHeap
	now    time.Time
	n      int
	paths  map[string]string // interned source paths
	// used are the advisory matches identified, by source, for Complete.
	used  map[usedKey]*usedMatch
	usedQ []*usedMatch // in identification order
	// Late counts starts recorded after InstanceHorizon had passed them
	// (recorded all the same, until event time moves on);
	// Dropped those not recorded because MaxRecorded starts were held.
	Late, Dropped int64
}

type pstart struct {
	t     time.Time
	src   event.Source
	key   string // lower-case host|pid, "" without a pid
	guid  string // as written
	image string // lower-case base name of the program
}

type usedKey struct {
	src  event.Source
	rule *sigma.Rule
}

type usedMatch struct {
	t    time.Time
	inst string
	rule *sigma.Rule
	ev   alert.Event
	conn bool
}

// NewInstances returns an empty Instances.
func NewInstances() *Instances {
	return &Instances{byKey: map[string][]*pstart{}, byGUID: map[string]*pstart{},
		paths: map[string]string{}, used: map[usedKey]*usedMatch{}}
}

func (in *Instances) intern(p string) string {
	if q, ok := in.paths[p]; ok {
		return q
	}
	p = strings.Clone(p)
	in.paths[p] = p
	return p
}

// Record learns a process start (any program: the starts of other
// programs are what shows a process id reused).
func (in *Instances) Record(p Process) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.record(p.Time, p.Source, p.Host, p.PID, p.GUID, p.Image)
}

func (in *Instances) record(t time.Time, src event.Source, host, pid, guid, image string) *pstart {
	if t.IsZero() || (pid == "" || host == "") && guid == "" {
		return nil
	}
	key := ""
	if pid != "" && host != "" {
		key = strings.ToLower(host) + "|" + pid
	}
	// A start recorded before (Record, then its match) is found whatever
	// the time now: only new starts can be late.
	if s := in.find(key, guid, t, src); s != nil {
		return s
	}
	// A start behind the horizon is late: counted, and still recorded, as
	// the matches of late events are still correlated (the stream passes
	// them on at once); the next advance of event time drops it again.
	late := !in.now.IsZero() && t.Before(in.now.Add(-InstanceHorizon))
	if in.Lateness > 0 {
		if t.After(in.newest) {
			// Prune behind the previous newest start, not this one: the
			// event that brings this start may release, after it is
			// matched, matches as old as the watermark before it, and
			// they need the starts of their last InstanceHorizon.
			if !in.newest.IsZero() {
				in.pruneStarts(in.newest.Add(-in.Lateness - InstanceHorizon))
			}
			in.newest = t
		} else if t.Before(in.newest.Add(-in.Lateness - InstanceHorizon)) {
			late = true
		}
	}
	if late {
		in.Late++
	}
	if in.n >= MaxRecorded {
		in.Dropped++
		return nil
	}
	src.Path = in.intern(src.Path)
	s := &pstart{t: t, src: src, key: key, guid: guid, image: strings.ToLower(path.Base(strings.ReplaceAll(image, `\`, "/")))}
	if image == "" {
		s.image = ""
	}
	in.n++
	heap.Push(&in.exp, s)
	if key != "" {
		l := in.byKey[key]
		i, _ := slices.BinarySearchFunc(l, s, cmpStart)
		in.byKey[key] = slices.Insert(l, i, s)
	}
	if guid != "" {
		g := strings.ToLower(guid)
		if q := in.byGUID[g]; q == nil || cmpStart(s, q) < 0 {
			in.byGUID[g] = s
		}
	}
	return s
}

// find returns the recorded start of an event, if any.
func (in *Instances) find(key, guid string, t time.Time, src event.Source) *pstart {
	if key != "" {
		for _, s := range in.byKey[key] {
			if s.t.Equal(t) && s.src == src {
				return s
			}
		}
		return nil
	}
	if s := in.byGUID[strings.ToLower(guid)]; s != nil && s.t.Equal(t) && s.src == src {
		return s
	}
	return nil
}

func cmpStart(a, b *pstart) int {
	if c := a.t.Compare(b.t); c != 0 {
		return c
	}
	if a.src.Path != b.src.Path {
		return strings.Compare(a.src.Path, b.src.Path)
	}
	if a.src.Line != b.src.Line {
		if a.src.Line < b.src.Line {
			return -1
		}
		return 1
	}
	switch {
	case a.src.RecordID < b.src.RecordID:
		return -1
	case a.src.RecordID > b.src.RecordID:
		return 1
	}
	return 0
}

// cluster is one process instance: consecutive starts of a host and id.
type cluster struct {
	first *pstart
	guid  string
}

func (c *cluster) id() string {
	if c.first.key == "" {
		return "guid:" + strings.ToLower(c.guid)
	}
	return c.first.key + "@" + strconv.FormatInt(c.first.t.UnixNano(), 10)
}

// clusters groups the starts of one host and process id that began at or
// before until into instances, calling visit for each start with its
// instance, in time order; visit returns false to stop.
func clusters(l []*pstart, until time.Time, visit func(s *pstart, c *cluster) bool) {
	var c *cluster
	secStart := false // the cluster has a start without GUID
	image := ""
	for _, s := range l {
		join := false
		if c != nil {
			switch {
			case s.guid != "" && strings.EqualFold(s.guid, c.guid):
				join = true
			case s.t.Sub(c.first.t) > SameStartWithin:
			case s.guid != "" && c.guid != "": // two processes
			case s.guid == "" && secStart: // two Security starts
			case s.image != "" && image != "" && s.image != image:
			default:
				join = true
			}
		}
		if !join {
			if s.t.After(until) {
				return
			}
			c, secStart, image = &cluster{first: s}, false, ""
		}
		if s.guid != "" {
			c.guid = s.guid
		} else {
			secStart = true
		}
		if image == "" {
			image = s.image
		}
		if !visit(s, c) {
			return
		}
	}
}

// advance moves the identification time to t and drops what is older than
// the horizon behind it.
func (in *Instances) advance(t time.Time) {
	if !t.After(in.now) {
		return
	}
	in.now = t
	lo := t.Add(-InstanceHorizon)
	in.pruneStarts(lo)
	k := 0
	for k < len(in.usedQ) && in.usedQ[k].t.Before(lo) {
		delete(in.used, usedKey{in.usedQ[k].ev.Source, in.usedQ[k].rule})
		k++
	}
	if k > 0 {
		in.usedQ = slices.Delete(in.usedQ, 0, k)
	}
}

// pruneStarts drops the starts older than lo.
func (in *Instances) pruneStarts(lo time.Time) {
	for len(in.exp) > 0 && in.exp[0].t.Before(lo) {
		s := heap.Pop(&in.exp).(*pstart)
		in.n--
		if s.key != "" {
			l := in.byKey[s.key]
			if i := slices.Index(l, s); i >= 0 {
				l = slices.Delete(l, i, i+1)
			}
			if len(l) == 0 {
				delete(in.byKey, s.key)
			} else {
				in.byKey[s.key] = l
			}
		}
		if g := strings.ToLower(s.guid); g != "" && in.byGUID[g] == s {
			delete(in.byGUID, g)
		}
	}
	if len(in.exp) == 0 {
		clear(in.paths)
	}
}

// role tells whether a rule is one of the advisory's process-start or
// connection rules.
func role(r *sigma.Rule) (start, conn bool) {
	if r == nil || !strings.HasPrefix(r.Pos.File, PathPrefix) {
		return false, false
	}
	switch r.LogSource.Category {
	case "process_creation":
		return true, false
	case "network_connection":
		return false, true
	}
	return false, false
}

// Identify implements correlate.Identity for the matches of the built-in
// rules; other matches have no instance.
func (in *Instances) Identify(m *correlate.Match) (string, map[string]string) {
	start, conn := role(m.Rule)
	if !start && !conn || m.Time.IsZero() {
		return "", nil
	}
	f := m.Event.Fields
	guid := str(f, "ProcessGuid", "process.entity_id")
	var pid string
	if start {
		pid = proctree.NormPID(str(f, "NewProcessId", "ProcessId", "process.pid"))
	} else {
		pid = proctree.NormPID(str(f, "ProcessId", "ProcessID", "process.pid"))
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.advance(m.Time)
	key := ""
	if pid != "" && m.Host != "" {
		key = strings.ToLower(m.Host) + "|" + pid
	}
	var c *cluster
	if start {
		s := in.record(m.Time, m.Event.Source, m.Host, pid, guid, str(f, "Image", "NewProcessName", "process.executable"))
		if s != nil {
			c = in.clusterOf(s)
		}
	} else {
		if guid != "" {
			if s := in.byGUID[strings.ToLower(guid)]; s != nil {
				c = in.clusterOf(s)
			}
		}
		if c == nil && key != "" {
			clusters(in.byKey[key], m.Time, func(_ *pstart, x *cluster) bool { c = x; return true })
			if c != nil && guid != "" && c.guid != "" {
				c = nil // the id's latest process is another one
			}
		}
	}
	// Unresolved: a start or a connection of no known process, which
	// joins nothing.
	inst := "?connection"
	if start {
		inst = "?start"
	}
	var fields map[string]string
	if c != nil {
		inst = c.id()
		if guid == "" && c.guid != "" {
			fields = map[string]string{"ProcessGuid": c.guid}
		}
	}
	if k := (usedKey{m.Event.Source, m.Rule}); k.src.Path != "" && in.used[k] == nil {
		u := &usedMatch{t: m.Time, inst: inst, rule: m.Rule, ev: m.Event, conn: conn}
		in.used[k] = u
		in.usedQ = append(in.usedQ, u)
	}
	return inst, fields
}

// clusterOf returns the instance a recorded start belongs to.
func (in *Instances) clusterOf(s *pstart) *cluster {
	if s.key == "" {
		return &cluster{first: s, guid: s.guid}
	}
	var c *cluster
	clusters(in.byKey[s.key], s.t, func(x *pstart, xc *cluster) bool {
		if x == s {
			c = xc
			return false
		}
		return true
	})
	if c == nil { // unreachable: s is in its list
		c = &cluster{first: s, guid: s.guid}
	}
	// The rest of the cluster may hold its GUID.
	if c.guid == "" {
		clusters(in.byKey[s.key], s.t.Add(SameStartWithin), func(x *pstart, xc *cluster) bool {
			if xc.first == c.first && xc.guid != "" {
				c.guid = xc.guid
			}
			return true
		})
	}
	return c
}

// Complete adds to an alert of the correlation c the events of the same
// process instance that the other log recorded and that c's rules matched:
// the start seen in Sysmon and in Security 4688, the connection seen in
// Sysmon 3 and in Security 5156 (same destination, within
// SameStartWithin). The alert's events are then in time order.
func (in *Instances) Complete(c *correlate.Correlation, a *alert.Alert) {
	if c == nil || len(a.Events) == 0 {
		return
	}
	rules := map[*sigma.Rule]bool{}
	var leaves func(c *correlate.Correlation)
	leaves = func(c *correlate.Correlation) {
		for _, x := range c.Inputs {
			if x.Rule != nil {
				rules[x.Rule] = true
			} else if x.Corr != nil {
				leaves(x.Corr)
			}
		}
	}
	leaves(c)
	in.mu.Lock()
	defer in.mu.Unlock()
	listed := map[event.Source]bool{}
	insts := map[string]bool{}
	for _, e := range a.Events {
		listed[e.Source] = true
		for r := range rules {
			if u := in.used[usedKey{e.Source, r}]; u != nil && !strings.HasPrefix(u.inst, "?") {
				insts[u.inst] = true
			}
		}
	}
	added := false
	for _, u := range in.usedQ {
		if listed[u.ev.Source] || !insts[u.inst] || !rules[u.rule] {
			continue
		}
		if u.conn && !sameConnection(u.ev, a.Events) {
			continue
		}
		a.Events = append(a.Events, u.ev)
		listed[u.ev.Source] = true
		added = true
	}
	if added {
		slices.SortStableFunc(a.Events, func(x, y alert.Event) int {
			var tx, ty time.Time
			if x.Timestamp != nil {
				tx = *x.Timestamp
			}
			if y.Timestamp != nil {
				ty = *y.Timestamp
			}
			return tx.Compare(ty)
		})
	}
}

// sameConnection reports whether a connection event is another log's
// record of a connection in events: the same destination address and
// port, another channel, within SameStartWithin.
func sameConnection(e alert.Event, events []alert.Event) bool {
	ip := str(e.Fields, "DestinationIp", "DestAddress", "destination.ip")
	port := str(e.Fields, "DestinationPort", "DestPort", "destination.port")
	ch := strings.ToLower(str(e.Fields, "Channel", "winlog.channel"))
	if ip == "" || e.Timestamp == nil {
		return false
	}
	for _, x := range events {
		if x.Timestamp == nil || str(x.Fields, "DestinationIp", "DestAddress", "destination.ip") != ip ||
			str(x.Fields, "DestinationPort", "DestPort", "destination.port") != port ||
			strings.ToLower(str(x.Fields, "Channel", "winlog.channel")) == ch {
			continue
		}
		if d := e.Timestamp.Sub(*x.Timestamp); d <= SameStartWithin && d >= -SameStartWithin {
			return true
		}
	}
	return false
}

type startHeap []*pstart

func (h startHeap) Len() int           { return len(h) }
func (h startHeap) Less(i, j int) bool { return h[i].t.Before(h[j].t) }
func (h startHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *startHeap) Push(x any)        { *h = append(*h, x.(*pstart)) }
func (h *startHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}

// Held returns the number of process starts held.
func (in *Instances) Held() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.n
}
