// Package report writes the self-contained HTML report of a hunt
// (vigil hunt --format html): one file, every asset inlined, that opens
// offline and makes no network request. It shows the run summary, alerts
// over time, counts by level, rule and host, the ATT&CK techniques that
// fired, a sortable and filterable alerts table, and each alert's detail:
// its rule, its events with all their fields, its process tree, command
// lines, network destinations and, for the built-in advisories, their
// triage guidance.
//
// Writer is an alert.Writer that keeps the alerts, each encoded to JSON as
// it comes, up to Options.MaxAlerts, and writes the page at Close. The
// page and its script are package web's; the process trees come from a
// proctree.Index filled during the hunt.
package report

import (
	"encoding/json"
	"io"
	"time"
	"unicode/utf8"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/proctree"
	"github.com/vigil-detect/vigil/web"
)

// Default bounds of a report.
const (
	// DefaultMaxAlerts alerts are kept; beyond, alerts are counted as
	// omitted and the page says how many.
	DefaultMaxAlerts = 200_000
	// DefaultMaxEvents events of one alert are kept (correlation alerts
	// can hold thousands); the page says how many more there were.
	DefaultMaxEvents = 100
)

// Options configure a report.
type Options struct {
	// Title names the run ("vigil hunt -r rules logs/").
	Title string
	// Inputs are the paths the hunt read.
	Inputs []string
	// Index, when set, gives each alert the process tree recorded during
	// the hunt; without it the page builds trees from the alerts' own
	// events.
	Index *proctree.Index
	// Rules describes the rules by id (description, author, ...).
	Rules map[string]web.RuleInfo
	// MaxAlerts and MaxEvents bound what is kept (0: the defaults).
	MaxAlerts, MaxEvents int
	// Now is the report's generation time (zero: time.Now()).
	Now time.Time
}

// Writer buffers alerts and writes the report at Close.
type Writer struct {
	w       io.Writer
	opts    Options
	alerts  [][]byte // JSON of each alert
	queries []*proctree.Query
	fired   map[string]bool // rule ids
	advs    map[string]bool
	omitted int
	summary any
}

// New returns a report writer on w.
func New(w io.Writer, opts Options) *Writer {
	if opts.MaxAlerts <= 0 {
		opts.MaxAlerts = DefaultMaxAlerts
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	return &Writer{w: w, opts: opts, fired: map[string]bool{}, advs: map[string]bool{}}
}

// SetSummary sets the run summary the page shows (cli's hunt summary, in
// its --summary-json form); call it before Close.
func (r *Writer) SetSummary(s any) { r.summary = s }

// Alerts is the number of alerts kept; Omitted those beyond MaxAlerts.
func (r *Writer) Alerts() int  { return len(r.alerts) }
func (r *Writer) Omitted() int { return r.omitted }

// reportAlert is an alert as the page reads it: the alert contract
// (docs/alerts.md) plus the count of events left out.
type reportAlert struct {
	*alert.Alert
	EventsOmitted int `json:"events_omitted,omitempty"`
}

// Write keeps one alert.
func (r *Writer) Write(a *alert.Alert) error {
	if len(r.alerts) >= r.opts.MaxAlerts {
		r.omitted++
		return nil
	}
	ra := reportAlert{Alert: a}
	if n := len(a.Events); n > r.opts.MaxEvents {
		c := *a
		c.Events = a.Events[:r.opts.MaxEvents]
		ra = reportAlert{Alert: &c, EventsOmitted: n - r.opts.MaxEvents}
	}
	b, err := json.Marshal(ra) // escapes < > & as \u003c ...: safe inside <script>
	if err != nil {
		return err
	}
	r.alerts = append(r.alerts, b)
	var q *proctree.Query
	if r.opts.Index != nil {
		q = proctree.QueryOf(a)
	}
	r.queries = append(r.queries, q)
	r.fired[a.Rule.ID] = true
	if a.Advisory != "" {
		r.advs[a.Advisory] = true
	}
	return nil
}

// treeRef is a process tree by indexes into the page's process and
// connection tables, so that a process in many trees is written once.
type treeRef struct {
	A  []int `json:"a,omitempty"`
	P  int   `json:"p"`
	C  []int `json:"c,omitempty"`
	MC int   `json:"mc,omitempty"`
	N  []int `json:"n,omitempty"`
	MN int   `json:"mn,omitempty"`
}

type indexStats struct {
	Starts             int `json:"starts"`
	Connections        int `json:"connections"`
	DroppedStarts      int `json:"dropped_starts"`
	DroppedConnections int `json:"dropped_connections"`
}

// Close writes the report.
func (r *Writer) Close() error {
	now := r.opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	var procs []*proctree.Process
	var conns []*proctree.Conn
	procIdx := map[*proctree.Process]int{}
	connIdx := map[*proctree.Conn]int{}
	pi := func(p *proctree.Process) int {
		if i, ok := procIdx[p]; ok {
			return i
		}
		procIdx[p] = len(procs)
		procs = append(procs, p)
		return len(procs) - 1
	}
	trees := make([]*treeRef, len(r.queries))
	for i, q := range r.queries {
		if q == nil {
			continue
		}
		t := r.opts.Index.TreeOf(q)
		ref := &treeRef{P: pi(t.Process), MC: t.MoreChildren, MN: t.MoreConnections}
		for _, p := range t.Ancestors {
			ref.A = append(ref.A, pi(p))
		}
		for _, p := range t.Children {
			ref.C = append(ref.C, pi(p))
		}
		for _, c := range t.Connections {
			j, ok := connIdx[c]
			if !ok {
				j = len(conns)
				connIdx[c] = j
				conns = append(conns, c)
			}
			ref.N = append(ref.N, j)
		}
		trees[i] = ref
	}
	rules := map[string]web.RuleInfo{}
	for id := range r.fired {
		if ri, ok := r.opts.Rules[id]; ok {
			rules[id] = ri
		}
	}
	advs := map[string]*advisory.Advisory{}
	for id := range r.advs {
		if a := advisory.Get(id); a != nil {
			advs[id] = a
		}
	}
	head := struct {
		Title      string                        `json:"title"`
		Generated  string                        `json:"generated"`
		Inputs     []string                      `json:"inputs"`
		Summary    any                           `json:"summary"`
		Omitted    int                           `json:"omitted"`
		Index      *indexStats                   `json:"process_index,omitempty"`
		Rules      map[string]web.RuleInfo       `json:"rules"`
		Advisories map[string]*advisory.Advisory `json:"advisories"`
		Procs      []*proctree.Process           `json:"procs"`
		Conns      []*proctree.Conn              `json:"conns"`
		Trees      []*treeRef                    `json:"trees"`
	}{r.opts.Title, now.UTC().Format(time.RFC3339), r.opts.Inputs, r.summary, r.omitted, nil, rules, advs, procs, conns, trees}
	if ix := r.opts.Index; ix != nil {
		st := ix.Stats()
		head.Index = &indexStats{st.Starts, st.Connections, st.DroppedStarts, st.DroppedConnections}
	}
	heading := r.opts.Title
	if utf8.RuneCountInString(heading) > 160 { // a shell glob of many files
		heading = string([]rune(heading)[:159]) + "…"
	}
	return web.WritePage(r.w, web.Page{Mode: web.ModeReport, Title: "vigil report: " + heading, Heading: heading, Gzip: true},
		func(w io.Writer) error {
			b, err := json.Marshal(head)
			if err != nil {
				return err
			}
			// head's object, then the alerts before its closing brace
			if _, err := w.Write(b[:len(b)-1]); err != nil {
				return err
			}
			if _, err := io.WriteString(w, `,"alerts":[`); err != nil {
				return err
			}
			for i, a := range r.alerts {
				if i > 0 {
					if _, err := io.WriteString(w, ","); err != nil {
						return err
					}
				}
				if _, err := w.Write(a); err != nil {
					return err
				}
			}
			_, err = io.WriteString(w, "]}")
			return err
		})
}
