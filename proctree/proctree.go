// Package proctree keeps a bounded index of the process starts and network
// connections seen during a hunt and builds, for an alert, its process
// tree: the ancestors of the alert's process (parent, grandparent, ...),
// the process itself, the processes it started and the connections it
// made, as far as the input shows them.
//
// The index is filled through hunt's context rules (Rules: every process
// start and every network connection, marked "vigil-role: context"), so a
// hunt records them without alerting on them. Processes are joined by
// process GUID (Sysmon ProcessGuid, ECS process.entity_id) and, when an
// event has none (Security 4688/5156), by host and process id, taking the
// latest start of that id before the event, since Windows reuses ids.
package proctree

import (
	"embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/sigma"
)

//go:embed rules/*.yml
var ruleFiles embed.FS

// PathPrefix starts the rule-file path of the context rules.
const PathPrefix = "builtin:proctree/"

// Names of the context rules.
const (
	startRule = "vigil_process_tree_start"
	connRule  = "vigil_process_tree_connection"
)

// Rules parses the context rules that feed an Index: one matching every
// process start, one every network connection with a destination. Both
// carry "vigil-role: context".
func Rules() (*sigma.Collection, sigma.ErrorList) {
	return sigma.ParseFS(ruleFiles, "rules/*.yml", PathPrefix)
}

// IsRule reports whether r is one of this package's context rules.
func IsRule(r *sigma.Rule) bool {
	return r != nil && strings.HasPrefix(r.Pos.File, PathPrefix) && (r.Name == startRule || r.Name == connRule)
}

// Fields is what the index reads of an event: a field's value as text.
// *event.Event has it; Map adapts an alert event's fields.
type Fields interface {
	Get(name string) (string, bool)
}

// Map adapts an alert event's field map to Fields.
type Map map[string]any

// Get returns the field as text (numbers in their shortest form).
func (m Map) Get(name string) (string, bool) {
	v, ok := m[name]
	if !ok || v == nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	default:
		return fmt.Sprint(v), true
	}
}

// Process is a process as its start event tells it, or as a child's
// parent fields or another event name it (Inferred).
type Process struct {
	Time              time.Time    `json:"time,omitzero"`
	Host              string       `json:"host,omitempty"`
	GUID              string       `json:"guid,omitempty"`
	PID               string       `json:"pid,omitempty"`
	ParentGUID        string       `json:"parent_guid,omitempty"`
	ParentPID         string       `json:"parent_pid,omitempty"`
	Image             string       `json:"image,omitempty"`
	CommandLine       string       `json:"command_line,omitempty"`
	User              string       `json:"user,omitempty"`
	ParentImage       string       `json:"parent_image,omitempty"`
	ParentCommandLine string       `json:"parent_command_line,omitempty"`
	Source            event.Source `json:"source,omitzero"`
	// Inferred is set when no start of the process was seen: it is known
	// from its child's parent fields or from the alert's event.
	Inferred bool `json:"inferred,omitempty"`
}

// Conn is a network connection made by a process.
type Conn struct {
	Time     time.Time    `json:"time,omitzero"`
	Host     string       `json:"host,omitempty"`
	GUID     string       `json:"guid,omitempty"`
	PID      string       `json:"pid,omitempty"`
	Image    string       `json:"image,omitempty"`
	IP       string       `json:"ip,omitempty"`
	Port     string       `json:"port,omitempty"`
	Hostname string       `json:"hostname,omitempty"`
	Protocol string       `json:"protocol,omitempty"`
	Source   event.Source `json:"source,omitzero"`
}

func get(f Fields, names ...string) string {
	for _, n := range names {
		if v, ok := f.Get(n); ok && v != "" && v != "-" {
			return strings.Clone(v)
		}
	}
	return ""
}

// NormPID returns a process id in decimal: Security logs write them in
// hexadecimal (0x1c3c), Sysmon and ECS in decimal.
func NormPID(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 2 && (v[:2] == "0x" || v[:2] == "0X") {
		if n, err := strconv.ParseUint(v[2:], 16, 64); err == nil {
			return strconv.FormatUint(n, 10)
		}
	}
	return v
}

// IsStart reports whether the fields are those of a process start
// (Sysmon 1, Security 4688, ECS process start): it names the parent or the
// new process.
func IsStart(f Fields) bool {
	return get(f, "ParentImage", "ParentProcessGuid", "NewProcessName", "ParentCommandLine",
		"process.parent.executable", "process.parent.entity_id") != ""
}

// StartOf reads a process start.
func StartOf(f Fields, host string, t time.Time, src event.Source) Process {
	p := Process{Time: t, Host: strings.Clone(host), Source: src}
	p.Source.Path = strings.Clone(src.Path)
	p.GUID = get(f, "ProcessGuid", "process.entity_id")
	p.ParentGUID = get(f, "ParentProcessGuid", "process.parent.entity_id")
	p.Image = get(f, "Image", "NewProcessName", "process.executable")
	p.CommandLine = get(f, "CommandLine", "process.command_line")
	p.User = get(f, "User", "SubjectUserName", "user.name")
	p.PID = NormPID(get(f, "NewProcessId", "ProcessId", "process.pid"))
	p.ParentPID = NormPID(get(f, "ParentProcessId", "process.parent.pid"))
	if p.ParentPID == "" && get(f, "NewProcessId") != "" {
		// Security 4688 without the field mapping: ProcessId is the creator.
		p.ParentPID = NormPID(get(f, "ProcessId"))
	}
	p.ParentImage = get(f, "ParentImage", "ParentProcessName", "process.parent.executable")
	p.ParentCommandLine = get(f, "ParentCommandLine", "process.parent.command_line")
	return p
}

// ConnOf reads a network connection (Sysmon 3, Security 5156, ECS).
func ConnOf(f Fields, host string, t time.Time, src event.Source) Conn {
	c := Conn{Time: t, Host: strings.Clone(host), Source: src}
	c.Source.Path = strings.Clone(src.Path)
	c.GUID = get(f, "ProcessGuid", "process.entity_id")
	c.PID = NormPID(get(f, "ProcessId", "ProcessID", "process.pid"))
	c.Image = get(f, "Image", "Application", "process.executable")
	c.IP = get(f, "DestinationIp", "DestAddress", "destination.ip")
	c.Port = get(f, "DestinationPort", "DestPort", "destination.port")
	c.Hostname = get(f, "DestinationHostname", "destination.domain")
	c.Protocol = get(f, "Protocol", "network.transport")
	return c
}

// before orders by time, then input location.
func before(at, bt time.Time, as, bs event.Source) bool {
	if !at.Equal(bt) {
		return at.Before(bt)
	}
	if as.Path != bs.Path {
		return as.Path < bs.Path
	}
	if as.Line != bs.Line {
		return as.Line < bs.Line
	}
	return as.RecordID < bs.RecordID
}

func (p *Process) before(q *Process) bool { return before(p.Time, q.Time, p.Source, q.Source) }

func guidKey(g string) string        { return "g:" + strings.ToLower(g) }
func pidKey(host, pid string) string { return "p:" + strings.ToLower(host) + "|" + pid }

// Default bounds of an Index.
const (
	DefaultMaxStarts = 1 << 20
	DefaultMaxConns  = 1 << 20
)

// Index holds the process starts and connections of a hunt, up to its
// bounds; what is beyond them is counted in Dropped*. Record* may be called
// from many goroutines; Tree after the hunt.
type Index struct {
	mu     sync.Mutex
	byGUID map[string]*Process
	byPID  map[string][]*Process // pid key -> starts in time order
	kids   map[string][]*Process // parent key -> starts
	conns  map[string][]*Conn    // process key -> connections
	starts int
	nconns int
	// MaxStarts and MaxConns bound what is kept.
	MaxStarts, MaxConns int
	// DroppedStarts and DroppedConns count what the bounds left out.
	DroppedStarts, DroppedConns int
}

// NewIndex returns an empty index with the default bounds.
func NewIndex() *Index {
	return &Index{byGUID: map[string]*Process{}, byPID: map[string][]*Process{}, kids: map[string][]*Process{},
		conns: map[string][]*Conn{}, MaxStarts: DefaultMaxStarts, MaxConns: DefaultMaxConns}
}

// Stats are the counts of an index.
type Stats struct {
	Starts, Connections               int
	DroppedStarts, DroppedConnections int
}

// Stats returns what the index holds and what its bounds left out.
func (ix *Index) Stats() Stats {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return Stats{ix.starts, ix.nconns, ix.DroppedStarts, ix.DroppedConns}
}

// Observe records the event a context rule of this package matched; it
// has the signature of hunt.Options.Observe once the rule is checked with
// IsRule.
func (ix *Index) Observe(r *sigma.Rule, e *event.Event) {
	switch r.Name {
	case startRule:
		ix.RecordStart(StartOf(e, e.Host(), e.Time, e.Source))
	case connRule:
		ix.RecordConn(ConnOf(e, e.Host(), e.Time, e.Source))
	}
}

// RecordStart remembers a process start.
func (ix *Index) RecordStart(p Process) {
	if p.GUID == "" && p.PID == "" {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.starts >= ix.MaxStarts {
		ix.DroppedStarts++
		return
	}
	pp := &p
	if p.GUID != "" {
		k := guidKey(p.GUID)
		if q := ix.byGUID[k]; q != nil {
			// The same process in two logs: keep the first by time and
			// input location, whichever worker came first.
			if q.before(pp) {
				return
			}
			*q = p
			return
		}
		ix.byGUID[k] = pp
	}
	if p.PID != "" {
		k := pidKey(p.Host, p.PID)
		l := ix.byPID[k]
		for _, q := range l {
			if q.Time.Equal(p.Time) && q.GUID == p.GUID {
				return // the same start in two logs
			}
		}
		i := sort.Search(len(l), func(i int) bool { return pp.before(l[i]) })
		ix.byPID[k] = append(l[:i], append([]*Process{pp}, l[i:]...)...)
	}
	ix.starts++
	if pk := parentKey(pp); pk != "" {
		ix.kids[pk] = append(ix.kids[pk], pp)
	}
}

func parentKey(p *Process) string {
	if p.ParentGUID != "" {
		return guidKey(p.ParentGUID)
	}
	if p.ParentPID != "" {
		return pidKey(p.Host, p.ParentPID)
	}
	return ""
}

// RecordConn remembers a connection.
func (ix *Index) RecordConn(c Conn) {
	if c.GUID == "" && c.PID == "" {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.nconns >= ix.MaxConns {
		ix.DroppedConns++
		return
	}
	ix.nconns++
	k := guidKey(c.GUID)
	if c.GUID == "" {
		k = pidKey(c.Host, c.PID)
	}
	ix.conns[k] = append(ix.conns[k], &c)
}

// lookup finds the recorded start of a process by GUID, or by host and
// id: the latest start of that id at or before t (any start when t is
// zero).
func (ix *Index) lookup(host, guid, pid string, t time.Time) *Process {
	if guid != "" {
		if q := ix.byGUID[guidKey(guid)]; q != nil {
			return q
		}
		return nil
	}
	if pid == "" {
		return nil
	}
	starts := ix.byPID[pidKey(host, pid)]
	if t.IsZero() {
		if len(starts) == 0 {
			return nil
		}
		return starts[len(starts)-1]
	}
	i := sort.Search(len(starts), func(i int) bool { return starts[i].Time.After(t) })
	if i == 0 {
		return nil
	}
	return starts[i-1]
}

// end is when another process took p's id on its host (zero: never seen).
func (ix *Index) end(p *Process) time.Time {
	if p.PID == "" {
		return time.Time{}
	}
	for _, q := range ix.byPID[pidKey(p.Host, p.PID)] {
		if q.Time.After(p.Time) && (p.GUID == "" || q.GUID != p.GUID) {
			return q.Time
		}
	}
	return time.Time{}
}

// Bounds of one tree.
const (
	MaxAncestors   = 16
	MaxChildren    = 50
	MaxConnections = 50
)

// Tree is the process tree of an alert.
type Tree struct {
	// Ancestors are nearest first: parent, grandparent, ...
	Ancestors []*Process `json:"ancestors,omitempty"`
	Process   *Process   `json:"process"`
	// Children are the processes it started, in time order, at most
	// MaxChildren; MoreChildren counts the rest.
	Children     []*Process `json:"children,omitempty"`
	MoreChildren int        `json:"more_children,omitempty"`
	// Connections are its network connections, in time order, at most
	// MaxConnections; MoreConnections counts the rest.
	Connections     []*Conn `json:"connections,omitempty"`
	MoreConnections int     `json:"more_connections,omitempty"`
}

// Query is what a process tree is looked up by: the process of an alert,
// small enough to keep for many alerts until the hunt ends.
type Query struct {
	start bool // p is read from a start event
	p     Process
	t     time.Time
}

// QueryOf returns the query of an alert's process, or nil when none of
// its events names one. The alert's process is that of its first event
// that names one: the started process for a process start, else the
// process that acted (ProcessGuid, ProcessId).
func QueryOf(a *alert.Alert) *Query {
	for i := range a.Events {
		ev := &a.Events[i]
		f := Map(ev.Fields)
		var t time.Time
		if ev.Timestamp != nil {
			t = *ev.Timestamp
		}
		host := a.Host
		if host == "" {
			host = get(f, event.HostFields...)
		}
		if IsStart(f) {
			s := StartOf(f, host, t, ev.Source)
			if s.GUID != "" || s.PID != "" || s.Image != "" {
				return &Query{start: true, p: s, t: t}
			}
			continue
		}
		guid := get(f, "ProcessGuid", "process.entity_id")
		pid := NormPID(get(f, "ProcessId", "ProcessID", "process.pid"))
		if guid != "" || pid != "" {
			return &Query{p: Process{Host: host, GUID: guid, PID: pid, Image: get(f, "Image", "Application", "process.executable"), Inferred: true}, t: t}
		}
	}
	return nil
}

// Tree returns the process tree of an alert, or nil when none of its
// events names a process (see QueryOf).
func (ix *Index) Tree(a *alert.Alert) *Tree {
	q := QueryOf(a)
	if q == nil {
		return nil
	}
	return ix.TreeOf(q)
}

// TreeOf returns the process tree of a query.
func (ix *Index) TreeOf(q *Query) *Tree {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	p := ix.lookup(q.p.Host, q.p.GUID, q.p.PID, q.t)
	if q.start && p != nil && q.p.GUID == "" && !p.Time.Equal(q.t) {
		p = nil // another start of the same id
	}
	if p == nil {
		c := q.p
		p = &c
	}
	tr := &Tree{Process: p}
	// Ancestors.
	cur, at := p, p.Time
	visited := map[*Process]bool{p: true}
	for range MaxAncestors {
		q := ix.parent(cur, at)
		if q == nil || visited[q] {
			if q == nil && (cur.ParentImage != "" || cur.ParentGUID != "" || cur.ParentPID != "") {
				tr.Ancestors = append(tr.Ancestors, &Process{Host: cur.Host, GUID: cur.ParentGUID, PID: cur.ParentPID,
					Image: cur.ParentImage, CommandLine: cur.ParentCommandLine, Inferred: true})
			}
			break
		}
		visited[q] = true
		tr.Ancestors = append(tr.Ancestors, q)
		cur, at = q, q.Time
	}
	// Children and connections within the process's lifetime.
	end := ix.end(p)
	within := func(t time.Time) bool {
		return (p.Time.IsZero() || !t.Before(p.Time)) && (end.IsZero() || t.Before(end))
	}
	var kids []*Process
	if p.GUID != "" {
		kids = append(kids, ix.kids[guidKey(p.GUID)]...)
	} else if p.PID != "" {
		for _, k := range ix.kids[pidKey(p.Host, p.PID)] {
			if within(k.Time) {
				kids = append(kids, k)
			}
		}
	}
	sort.Slice(kids, func(i, j int) bool { return kids[i].before(kids[j]) })
	if len(kids) > MaxChildren {
		tr.MoreChildren = len(kids) - MaxChildren
		kids = kids[:MaxChildren]
	}
	tr.Children = kids
	var conns []*Conn
	seen := map[string]bool{}
	add := func(l []*Conn, check bool) {
		for _, c := range l {
			if check && !within(c.Time) {
				continue
			}
			// The same connection in Sysmon and in 5156.
			k := c.IP + "|" + c.Port + "|" + c.Time.Truncate(time.Second).String()
			if seen[k] {
				continue
			}
			seen[k] = true
			conns = append(conns, c)
		}
	}
	if p.GUID != "" {
		add(ix.conns[guidKey(p.GUID)], false)
	}
	if p.PID != "" {
		add(ix.conns[pidKey(p.Host, p.PID)], true)
	}
	sort.Slice(conns, func(i, j int) bool { return before(conns[i].Time, conns[j].Time, conns[i].Source, conns[j].Source) })
	if len(conns) > MaxConnections {
		tr.MoreConnections = len(conns) - MaxConnections
		conns = conns[:MaxConnections]
	}
	tr.Connections = conns
	return tr
}

// parent finds the recorded start of p's parent, started at or before t.
func (ix *Index) parent(p *Process, t time.Time) *Process {
	if p.ParentGUID != "" {
		if q := ix.byGUID[guidKey(p.ParentGUID)]; q != nil && (t.IsZero() || !q.Time.After(t)) {
			return q
		}
		return nil
	}
	if p.ParentPID == "" {
		return nil
	}
	return ix.lookup(p.Host, "", p.ParentPID, t)
}
