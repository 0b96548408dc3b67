package advisory

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/proctree"
	"github.com/vigil-detect/vigil/sigma"
)

// IsContextRule reports whether a rule only gathers context (custom
// attribute "vigil-role: context"): its matches are recorded with
// ProcessOf for the ancestry of alerts, not alerted.
func IsContextRule(r *sigma.Rule) bool {
	v, _ := r.Custom["vigil-role"].(string)
	return v == "context"
}

// Process is what a process start tells of a process.
type Process struct {
	Time        time.Time `json:"time"`
	Host        string    `json:"host,omitempty"`
	GUID        string    `json:"process_guid,omitempty"`
	PID         string    `json:"process_id,omitempty"`
	ParentGUID  string    `json:"-"`
	ParentPID   string    `json:"-"`
	Image       string    `json:"image"`
	CommandLine string    `json:"command_line,omitempty"`
	User        string    `json:"user,omitempty"`
	// Source locates the start in the input; it orders starts with the
	// same timestamp, so that ancestry does not depend on which worker
	// recorded first.
	Source event.Source `json:"-"`
}

// before orders starts by time, then by input location.
func (p *Process) before(q *Process) bool {
	if !p.Time.Equal(q.Time) {
		return p.Time.Before(q.Time)
	}
	if p.Source.Path != q.Source.Path {
		return p.Source.Path < q.Source.Path
	}
	if p.Source.Line != q.Source.Line {
		return p.Source.Line < q.Source.Line
	}
	return p.Source.RecordID < q.Source.RecordID
}

// ProcessOf reads a process start event (Sysmon 1, Security 4688, ECS):
// the fields of proctree.StartOf that the advisory's context keeps.
func ProcessOf(e *event.Event) Process {
	s := proctree.StartOf(e, e.Host(), e.Time, e.Source)
	return Process{Time: s.Time, Host: s.Host, Source: s.Source, GUID: s.GUID, ParentGUID: s.ParentGUID,
		Image: s.Image, CommandLine: s.CommandLine, User: s.User, PID: s.PID, ParentPID: s.ParentPID}
}

// Enricher adds advisory context to alerts: the advisory id, the process,
// its parent, the destinations and, from the process starts it was given,
// the ancestry. It also holds the advisory's process identity (Identity),
// which learns from the same starts. Record and Enrich may be called from
// one goroutine at a time each; Enricher locks.
type Enricher struct {
	ids    *Instances
	mu     sync.Mutex
	byGUID map[string]*Process
	byPID  map[string][]*Process // host|pid -> starts in time order
	n      int                   // starts recorded
	// Dropped counts the starts not recorded because MaxRecorded was
	// reached.
	Dropped int
}

// NewEnricher returns an enricher with no process starts recorded.
func NewEnricher() *Enricher {
	return &Enricher{ids: NewInstances(), byGUID: map[string]*Process{}, byPID: map[string][]*Process{}}
}

// Identity returns the process identity the advisory's correlations need
// (correlate.Options.Identity, hunt.Options.Identity): it joins a process
// start and its connection across Sysmon, ECS and Security logs and guards
// against process id reuse. It learns the process starts given to Record.
func (en *Enricher) Identity() *Instances { return en.ids }

// MaxRecorded bounds the process starts an Enricher keeps.
const MaxRecorded = 1 << 20

// Record remembers a process start.
func (en *Enricher) Record(p Process) {
	en.ids.Record(p)
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.n >= MaxRecorded {
		en.Dropped++
		return
	}
	pp := &p
	if p.GUID != "" {
		k := strings.ToLower(p.GUID)
		if q := en.byGUID[k]; q != nil {
			// The same process seen twice (two logs): keep the first
			// by time and input location, whichever worker came first.
			if q.before(pp) {
				return
			}
		} else {
			en.n++
		}
		en.byGUID[k] = pp
		return
	}
	if p.PID != "" {
		k := strings.ToLower(p.Host) + "|" + p.PID
		l := en.byPID[k]
		i := sort.Search(len(l), func(i int) bool { return pp.before(l[i]) })
		en.byPID[k] = append(l[:i], append([]*Process{pp}, l[i:]...)...)
		en.n++
	}
}

// parent finds the recorded start of a process's parent, started before t.
func (en *Enricher) parent(p *Process, t time.Time) *Process {
	if p.ParentGUID != "" {
		if q := en.byGUID[strings.ToLower(p.ParentGUID)]; q != nil && !q.Time.After(t) {
			return q
		}
		return nil
	}
	if p.ParentPID == "" {
		return nil
	}
	starts := en.byPID[strings.ToLower(p.Host)+"|"+p.ParentPID]
	// the latest start of that pid before t: pids are reused
	i := sort.Search(len(starts), func(i int) bool { return starts[i].Time.After(t) })
	if i == 0 {
		return nil
	}
	return starts[i-1]
}

// Enrich completes a correlation alert of an advisory rule; it leaves
// other alerts alone.
func (en *Enricher) Enrich(c *correlate.Correlation, a *alert.Alert) {
	adv := ForRule(a.Rule.ID)
	if adv == nil {
		return
	}
	en.ids.Complete(c, a)
	a.Advisory = adv.ID
	if a.Context == nil {
		a.Context = map[string]any{}
	}
	a.Context["advisory"] = adv.Title
	var start *alert.Event
	var dests []map[string]any
	seen := map[string]bool{} // ip|port: a connection logged by Sysmon and Security
	for i := range a.Events {
		f := a.Events[i].Fields
		if start == nil && (has(f, "CommandLine") || has(f, "ParentImage") || has(f, "NewProcessName")) {
			start = &a.Events[i]
		}
		if ip := str(f, "DestinationIp", "DestAddress", "destination.ip"); ip != "" {
			d := map[string]any{"ip": ip}
			port := str(f, "DestinationPort", "DestPort", "destination.port")
			if seen[ip+"|"+port] {
				continue
			}
			seen[ip+"|"+port] = true
			if port != "" {
				d["port"] = port
			}
			if v := str(f, "DestinationHostname", "destination.domain"); v != "" {
				d["hostname"] = v
			}
			if v := str(f, "Protocol", "network.transport"); v != "" {
				d["protocol"] = v
			}
			dests = append(dests, d)
		}
	}
	if len(dests) > 0 {
		a.Context["destination"] = dests[0]
		if len(dests) > 1 {
			a.Context["destinations"] = dests
		}
	}
	if start == nil {
		return
	}
	f := start.Fields
	for k, names := range map[string][]string{
		"image":               {"Image", "NewProcessName", "process.executable"},
		"command_line":        {"CommandLine", "process.command_line"},
		"process_guid":        {"ProcessGuid", "process.entity_id"},
		"user":                {"User", "SubjectUserName", "user.name"}, // "-" is skipped
		"parent_image":        {"ParentImage", "ParentProcessName", "process.parent.executable"},
		"parent_command_line": {"ParentCommandLine", "process.parent.command_line"},
	} {
		if v := str(f, names...); v != "" {
			a.Context[k] = v
		}
	}
	if v := proctree.NormPID(str(f, "NewProcessId", "ProcessId", "process.pid")); v != "" {
		a.Context["process_id"] = v
	}
	// Ancestry: the recorded starts above the process, nearest first.
	en.mu.Lock()
	defer en.mu.Unlock()
	var t time.Time
	if start.Timestamp != nil {
		t = *start.Timestamp
	}
	cur := &Process{Time: t, Host: a.Host,
		ParentGUID: str(f, "ParentProcessGuid", "process.parent.entity_id"),
		ParentPID:  proctree.NormPID(str(f, "ParentProcessId", "process.parent.pid"))}
	if cur.ParentPID == "" && str(f, "NewProcessId") != "" {
		cur.ParentPID = proctree.NormPID(str(f, "ProcessId")) // 4688 without the mapping
	}
	var chain []Process
	visited := map[*Process]bool{}
	for range 16 {
		q := en.parent(cur, t)
		if q == nil || visited[q] {
			break
		}
		visited[q] = true
		chain = append(chain, *q)
		cur, t = q, q.Time
	}
	if len(chain) > 0 {
		a.Context["ancestry"] = chain
	}
}

func has(f map[string]any, name string) bool {
	_, ok := f[name]
	return ok
}

func str(f map[string]any, names ...string) string {
	for _, n := range names {
		v, ok := f[n]
		if !ok || v == nil {
			continue
		}
		if s, ok := v.(string); ok && s == "-" { // Windows' "none"
			continue
		}
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case float64:
			s = fmtFloat(v)
		default:
			s = toString(v)
		}
		if s != "" {
			return s
		}
	}
	return ""
}
