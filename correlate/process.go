package correlate

import (
	"cmp"
	"container/heap"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/sigma"
)

// DefaultMaxGroups is the cap on open groups when Options.MaxGroups is 0.
const DefaultMaxGroups = 1 << 20

// Match is one detection-rule match given to a Processor.
type Match struct {
	// Rule is the detection rule that matched.
	Rule *sigma.Rule
	// Time is the event's time; matches without one are not correlated.
	Time time.Time
	// Seq is the match's position in the input, to order matches of equal
	// time.
	Seq uint64
	// Event is the matching event, with every field (alert.FromEvent).
	Event alert.Event
	// Host is the event's host, when known.
	Host string
}

// MatchFromAlert builds a Match from the detection alert of a rule.
func MatchFromAlert(r *sigma.Rule, a *alert.Alert, seq uint64) Match {
	m := Match{Rule: r, Seq: seq, Host: a.Host}
	if len(a.Events) > 0 {
		m.Event = a.Events[0]
	}
	if a.Timestamp != nil {
		m.Time = *a.Timestamp
	} else if m.Event.Timestamp != nil {
		m.Time = *m.Event.Timestamp
	}
	return m
}

// Sort sorts matches by time, then input position: the order Process
// needs.
func Sort(ms []Match) {
	slices.SortStableFunc(ms, func(a, b Match) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
}

// Options configure a Processor.
type Options struct {
	// MaxGroups caps the groups held open across all correlations, and
	// the matches those groups hold: when a new group would exceed it, or
	// a match makes the groups hold more than MaxGroups matches, the
	// groups updated least recently are evicted (and counted in
	// Stats.Evicted), so that memory stays bounded whatever the input.
	// 0 means DefaultMaxGroups.
	MaxGroups int
	// Emit receives the correlation alerts to write, in the order they
	// complete. Alerts of correlations that only feed other correlations
	// (without generate: true) are not emitted.
	Emit func(*alert.Alert)
	// Enrich, when set, is called on each emitted alert before Emit.
	Enrich func(c *Correlation, a *alert.Alert)
	// Identity, when set, names the instance each match belongs to (see
	// Identity); matches of different instances never share a group.
	Identity Identity
}

// Identity tells a Processor which instance of a thing a match belongs to
// when the group-by values alone cannot tell: a process id names several
// processes over time, because Windows reuses it, and one log may name a
// process by a GUID that another log lacks.
//
// Identify is called once per match of a rule some correlation reads, in
// the order Process gets them (event time), from the goroutine calling
// Process, before the match is correlated. The instance it returns ("" for
// none) is part of the match's group key in every correlation the match
// feeds, and of the alerts chained from it, but not of the alerts' group
// values. fields, when not nil, give the values of group-by fields the
// event lacks, as the identity knows them (the ProcessGuid of the process a
// Security 5156 connection belongs to, learnt from its Sysmon start); the
// event's own fields always win. The result must be deterministic in the
// matches given so far and in what the implementation learnt by other
// means, so that a hunt's alerts do not depend on input order.
type Identity interface {
	Identify(m *Match) (instance string, fields map[string]string)
}

// Stats are a Processor's counters.
type Stats struct {
	Matches int64 // matches processed
	NoTime  int64 // matches without a timestamp, not correlated
	NoGroup int64 // (match, correlation) pairs lacking a group-by or value field
	Late    int64 // matches older than the watermark (processed anyway)
	Groups  int64 // groups opened
	Open    int   // groups open now
	MaxOpen int   // most groups open at once
	Expired int64 // groups closed because their timespan passed
	Evicted int64 // groups dropped because MaxGroups was reached
	Held    int   // matches held in open groups now
	MaxHeld int   // most matches held at once
	Alerts  int64 // correlation alerts completed (emitted or only chained)
	Emitted int64 // correlation alerts given to Emit
}

// Processor holds the state of a Set's correlations over a stream of
// matches. It is not safe for concurrent use.
type Processor struct {
	set    *Set
	opts   Options
	states []*corrState
	now    time.Time
	st     Stats
}

type corrState struct {
	c          *Correlation
	groups     map[string]*group
	head, tail *group // least to most recently updated
}

type group struct {
	key        string
	vals       []string // group-by values as first seen
	last       time.Time
	prev, next *group

	items []*item   // eager and atClose windows
	start time.Time // atClose window start
	slots []*item   // temporal: the latest item per input
	seqs  [][]*item // temporal_ordered: best partial sequence ending at each step

	held int  // matches counted in Stats.Held for this group
	gone bool // removed: no longer counted
}

// count is the number of matches g holds (a match in two partial
// sequences counts twice: both references keep it).
func (g *group) count() int {
	n := len(g.items)
	for _, s := range g.slots {
		if s != nil {
			n++
		}
	}
	for _, s := range g.seqs {
		n += len(s)
	}
	return n
}

// recount updates Stats.Held after g changed.
func (p *Processor) recount(g *group) {
	if g.gone {
		return
	}
	n := g.count()
	p.st.Held += n - g.held
	g.held = n
	p.st.MaxHeld = max(p.st.MaxHeld, p.st.Held)
}

type item struct {
	t      time.Time
	seq    uint64
	events []alert.Event
	host   string
	inst   string            // Identity's instance, part of the group key
	idf    map[string]string // Identity's values of fields the event lacks
	val    string
	num    float64
}

// NewProcessor returns a processor with empty state.
func NewProcessor(s *Set, opts Options) *Processor {
	if opts.MaxGroups <= 0 {
		opts.MaxGroups = DefaultMaxGroups
	}
	p := &Processor{set: s, opts: opts}
	for _, c := range s.Correlations() {
		p.states = append(p.states, &corrState{c: c, groups: map[string]*group{}})
	}
	return p
}

// Stats returns the counters.
func (p *Processor) Stats() Stats { return p.st }

// Watermark returns the latest event time the processor has seen.
func (p *Processor) Watermark() time.Time { return p.now }

// Process correlates one match. Matches must come in non-decreasing time
// order (ties in input order); an older match is still processed but
// counted as Late, and windows already closed are not reopened for it.
func (p *Processor) Process(m Match) {
	p.st.Matches++
	if m.Time.IsZero() {
		p.st.NoTime++
		return
	}
	if m.Time.Before(p.now) {
		p.st.Late++
	}
	p.Advance(m.Time)
	targets := p.set.byRule[m.Rule]
	if len(targets) == 0 {
		return
	}
	it := &item{t: m.Time, seq: m.Seq, events: []alert.Event{m.Event}, host: m.Host}
	if p.opts.Identity != nil {
		it.inst, it.idf = p.opts.Identity.Identify(&m)
	}
	for _, tg := range targets {
		p.feed(tg.corr, tg.idx, it, m.Event.Fields, nil)
	}
	// The matches held are bounded too: a few groups can hold millions.
	for p.st.Held > p.opts.MaxGroups && p.st.Open > 0 {
		p.evictOldest()
	}
}

// Advance tells the processor that no match older than t will come: the
// windows that end before t are evaluated and their groups dropped.
func (p *Processor) Advance(t time.Time) {
	if !t.After(p.now) {
		return
	}
	p.now = t
	for _, cs := range p.states {
		lo := t.Add(-cs.c.span)
		for g := cs.head; g != nil && g.last.Before(lo); g = cs.head {
			p.closeWindow(cs, g)
			p.remove(cs, g)
			p.st.Expired++
		}
	}
}

// Flush ends the input: every open window is evaluated and all state is
// dropped.
func (p *Processor) Flush() {
	for _, cs := range p.states {
		for g := cs.head; g != nil; g = cs.head {
			p.closeWindow(cs, g)
			p.remove(cs, g)
			p.st.Expired++
		}
	}
}

// feed gives one item to a correlation, at input positions idx.
func (p *Processor) feed(c *Correlation, idx []int, it *item, fields map[string]any, grp map[string]string) {
	in := &c.Inputs[idx[0]]
	var key strings.Builder
	vals := make([]string, len(in.GroupFields))
	for i, f := range in.GroupFields {
		v, ok := "", false
		if grp != nil {
			v, ok = lookup(grp, f)
			if !ok {
				v, ok = lookup(grp, c.Sigma.GroupBy[i])
			}
		}
		if !ok {
			v, ok = fieldValue(fields, f)
		}
		if (!ok || v == "") && it.idf != nil {
			v, ok = lookup(it.idf, f)
		}
		if !ok || v == "" {
			p.st.NoGroup++
			return
		}
		vals[i] = v
		if i > 0 {
			key.WriteByte(0x1f)
		}
		key.WriteString(normKey(v))
	}
	if it.inst != "" {
		key.WriteByte(0x1e)
		key.WriteString(it.inst)
	}
	if in.ValueField != "" {
		v, ok := fieldValue(fields, in.ValueField)
		if !ok && grp != nil {
			v, ok = lookup(grp, in.ValueField)
		}
		if !ok {
			p.st.NoGroup++
			return
		}
		cp := *it
		cp.val = v
		if c.Sigma.Type != "value_count" {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(f) {
				p.st.NoGroup++
				return
			}
			cp.num = f
		}
		it = &cp
	}
	cs := p.states[c.Index]
	g := cs.groups[key.String()]
	if g == nil {
		if p.st.Open >= p.opts.MaxGroups {
			p.evictOldest()
		}
		g = &group{key: key.String(), vals: vals}
		cs.groups[g.key] = g
		p.st.Groups++
		p.st.Open++
		p.st.MaxOpen = max(p.st.MaxOpen, p.st.Open)
	} else {
		cs.unlink(g)
	}
	cs.pushBack(g)
	if it.t.After(g.last) {
		g.last = it.t
	}
	lo := it.t.Add(-c.span)
	switch c.mode {
	case eager:
		g.items = pruneItems(g.items, lo)
		g.items = append(g.items, it)
		if v, ok := p.holds(c, g.items); ok {
			items := g.items
			g.items = nil
			p.emit(c, g, items, v)
		}
	case atClose:
		if len(g.items) > 0 && it.t.Sub(g.start) > c.span {
			p.closeWindow(cs, g)
		}
		if len(g.items) == 0 {
			g.start = it.t
		}
		g.items = append(g.items, it)
	case temporal:
		if c.ordered {
			p.ordered(c, g, idx, it, lo)
		} else {
			p.unordered(c, g, idx, it, lo)
		}
	}
	p.recount(g)
}

func pruneItems(items []*item, lo time.Time) []*item {
	n := 0
	for n < len(items) && items[n].t.Before(lo) {
		n++
	}
	if n == 0 {
		return items
	}
	return append(items[:0], items[n:]...)
}

func (p *Processor) unordered(c *Correlation, g *group, idx []int, it *item, lo time.Time) {
	if g.slots == nil {
		g.slots = make([]*item, len(c.Inputs))
	}
	for _, i := range idx {
		g.slots[i] = it
	}
	present := 0
	for i, s := range g.slots {
		if s != nil && s.t.Before(lo) {
			g.slots[i] = nil
		} else if s != nil {
			present++
		}
	}
	ok := present == len(c.Inputs)
	if len(c.conds) > 0 {
		ok = holdsAll(c.conds, float64(present))
	}
	if !ok {
		return
	}
	var items []*item
	for _, s := range g.slots {
		if s != nil && !slices.Contains(items, s) {
			items = append(items, s)
		}
	}
	sortItems(items)
	clear(g.slots)
	p.emit(c, g, items, float64(present))
}

func (p *Processor) ordered(c *Correlation, g *group, idx []int, it *item, lo time.Time) {
	n := len(c.Inputs)
	if g.seqs == nil {
		g.seqs = make([][]*item, n)
	}
	for i, s := range g.seqs {
		if s != nil && s[0].t.Before(lo) {
			g.seqs[i] = nil
		}
	}
	// Later steps first, so that one event never fills two steps.
	for k := len(idx) - 1; k >= 0; k-- {
		i := idx[k]
		var cand []*item
		if i == 0 {
			cand = []*item{it}
		} else if prev := g.seqs[i-1]; prev != nil {
			cand = append(prev[:len(prev):len(prev)], it)
		}
		if cand == nil {
			continue
		}
		if i == n-1 {
			clear(g.seqs)
			p.emit(c, g, cand, float64(n))
			return
		}
		// Keep the partial sequence that started last: it stays open
		// longest.
		if cur := g.seqs[i]; cur == nil || !cand[0].t.Before(cur[0].t) {
			g.seqs[i] = cand
		}
	}
}

// closeWindow evaluates an atClose group's window and empties it.
func (p *Processor) closeWindow(cs *corrState, g *group) {
	if cs.c.mode != atClose || len(g.items) == 0 {
		return
	}
	items := g.items
	g.items = nil
	if v, ok := p.holds(cs.c, items); ok {
		p.emit(cs.c, g, items, v)
	}
}

// holds computes the aggregate of a window and tests the condition.
func (p *Processor) holds(c *Correlation, items []*item) (float64, bool) {
	var v float64
	switch c.Sigma.Type {
	case "event_count":
		v = float64(len(items))
	case "value_count":
		seen := make(map[string]struct{}, len(items))
		for _, it := range items {
			seen[normKey(it.val)] = struct{}{}
		}
		v = float64(len(seen))
	case "value_sum":
		for _, it := range items {
			v += it.num
		}
	case "value_avg":
		for _, it := range items {
			v += it.num
		}
		v /= float64(len(items))
	case "value_percentile", "value_median":
		nums := make([]float64, len(items))
		for i, it := range items {
			nums[i] = it.num
		}
		v = percentile(nums, c.pct)
	}
	return v, holdsAll(c.conds, v)
}

func holdsAll(conds []sigma.CountCondition, v float64) bool {
	for _, k := range conds {
		if !k.Holds(v) {
			return false
		}
	}
	return true
}

// percentile returns the p-th percentile (0-100) of xs by linear
// interpolation between closest ranks (the "R-7" method of NumPy and
// spreadsheets).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	h := (float64(len(xs)) - 1) * p / 100
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(xs) {
		return xs[len(xs)-1]
	}
	return xs[i] + (h-lo)*(xs[i+1]-xs[i])
}

func sortItems(items []*item) {
	slices.SortStableFunc(items, func(a, b *item) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

// emit builds the alert of a completed correlation and hands it to Emit
// and to the correlations that read this one.
func (p *Processor) emit(c *Correlation, g *group, items []*item, value float64) {
	p.st.Alerts++
	s := c.Sigma
	tags := s.Tags
	if tags == nil {
		tags = []string{}
	}
	last := items[len(items)-1]
	for _, it := range items {
		if it.t.After(last.t) || it.t.Equal(last.t) && it.seq > last.seq {
			last = it
		}
	}
	a := &alert.Alert{
		Rule:            alert.Rule{ID: c.ID(), Title: s.Title, Level: s.Level, Status: s.Status, Tags: tags, Type: "correlation", Path: s.Pos.File},
		Host:            last.host,
		CorrelationType: s.Type,
		Group:           make(map[string]string, len(g.vals)),
	}
	t := last.t
	a.Timestamp = &t
	for i, name := range s.GroupBy {
		if i < len(g.vals) {
			a.Group[name] = g.vals[i]
		}
	}
	n := 0
	for _, it := range items {
		n += len(it.events)
	}
	a.Events = make([]alert.Event, 0, n)
	// In a chain an event can be in two inner alerts (a connection that
	// completes two sequences): it is listed once, by its source location.
	var seen map[event.Source]bool
	if n > len(items) {
		seen = make(map[event.Source]bool, n)
	}
	for _, it := range items {
		for _, e := range it.events {
			if src := e.Source; seen != nil && src.Path != "" && (src.Line != 0 || src.RecordID != 0) {
				if seen[src] {
					continue
				}
				seen[src] = true
			}
			a.Events = append(a.Events, e)
		}
		if a.Host == "" {
			a.Host = it.host
		}
	}
	a.Context = map[string]any{"matches": len(items)}
	switch s.Type {
	case "event_count":
		a.Context["count"] = value
	case "value_count", "value_sum", "value_avg", "value_median":
		a.Context[s.Type] = value
		a.Context["field"] = s.Field
	case "value_percentile":
		a.Context[s.Type] = value
		a.Context["field"] = s.Field
		a.Context["percentile"] = c.pct
	}
	if c.Output {
		if p.opts.Enrich != nil {
			p.opts.Enrich(c, a)
		}
		p.st.Emitted++
		if p.opts.Emit != nil {
			p.opts.Emit(a)
		}
	}
	if len(c.deps) == 0 {
		return
	}
	var fields map[string]any
	if len(a.Events) > 0 {
		fields = a.Events[len(a.Events)-1].Fields
	}
	chained := &item{t: last.t, seq: last.seq, events: a.Events, host: a.Host, inst: last.inst}
	for _, d := range c.deps {
		p.feed(d.corr, d.idx, chained, fields, a.Group)
	}
}

// evictOldest drops the least recently updated group of all correlations.
func (p *Processor) evictOldest() {
	var best *corrState
	for _, cs := range p.states {
		if cs.head != nil && (best == nil || cs.head.last.Before(best.head.last)) {
			best = cs
		}
	}
	if best == nil {
		return
	}
	p.remove(best, best.head)
	p.st.Evicted++
}

func (p *Processor) remove(cs *corrState, g *group) {
	cs.unlink(g)
	delete(cs.groups, g.key)
	p.st.Open--
	p.st.Held -= g.held
	g.held, g.gone = 0, true
}

func (cs *corrState) unlink(g *group) {
	if g.prev != nil {
		g.prev.next = g.next
	} else if cs.head == g {
		cs.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else if cs.tail == g {
		cs.tail = g.prev
	}
	g.prev, g.next = nil, nil
}

func (cs *corrState) pushBack(g *group) {
	g.prev = cs.tail
	if cs.tail != nil {
		cs.tail.next = g
	} else {
		cs.head = g
	}
	cs.tail = g
}

// fieldValue returns a field of an event as text: exactly named first,
// then compared as vigil compares field names everywhere (case-insensitive,
// spaces ignored: ProcessID is ProcessId). A list gives its first value;
// null is absent.
func fieldValue(fields map[string]any, name string) (string, bool) {
	v, ok := lookup(fields, name)
	if !ok {
		return "", false
	}
	return text(v)
}

// lookup finds a map entry by field name: the exact name, else the name
// compared case-insensitively and without spaces. When several keys match
// that way (an event with both ProcessID and processid), the smallest key
// wins, so that the result does not depend on map order.
func lookup[V any](m map[string]V, name string) (V, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	var (
		best  string
		found bool
		val   V
	)
	want := foldName(name)
	for k, x := range m {
		if (!found || k < best) && foldName(k) == want {
			best, found, val = k, true, x
		}
	}
	return val, found
}

// foldName is the form field names are compared in: lower case, without
// spaces (as event.Schema compares them).
func foldName(s string) string {
	if !strings.ContainsRune(s, ' ') {
		return strings.ToLower(s)
	}
	return strings.ToLower(strings.ReplaceAll(s, " ", ""))
}

func text(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case []any:
		for _, x := range v {
			if s, ok := text(x); ok {
				return s, true
			}
		}
		return "", false
	case fmt.Stringer:
		return v.String(), true
	}
	return fmt.Sprint(v), true
}

// normKey is the form group-by values are compared in: case-folded, with
// hexadecimal numbers (0x1a2c, as Windows Security logs write process ids)
// in decimal, so that 0x1a2c and 6700 are the same process.
func normKey(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') {
		if n, err := strconv.ParseUint(v[2:], 16, 64); err == nil {
			return strconv.FormatUint(n, 10)
		}
	}
	return strings.ToLower(v)
}

// Reorderer puts matches that arrive out of order back in time order, for
// streaming input: it holds each match until the newest time seen is
// Lateness past it. Matches later than that bound are counted in Late and
// passed on at once.
type Reorderer struct {
	Lateness time.Duration
	Late     int64
	h        matchHeap
	newest   time.Time
	released time.Time
}

// Add takes a match and releases, through out, those now safe to process.
func (r *Reorderer) Add(m Match, out func(Match)) {
	if !r.released.IsZero() && m.Time.Before(r.released) {
		r.Late++
		out(m)
		return
	}
	heap.Push(&r.h, m)
	if m.Time.After(r.newest) {
		r.newest = m.Time
	}
	r.Release(r.newest.Add(-r.Lateness), out)
}

// Release releases, in order, the held matches at or before the watermark
// t.
func (r *Reorderer) Release(t time.Time, out func(Match)) {
	for len(r.h) > 0 && !r.h[0].Time.After(t) {
		m := heap.Pop(&r.h).(Match)
		r.released = m.Time
		out(m)
	}
}

// Flush releases every held match.
func (r *Reorderer) Flush(out func(Match)) {
	for len(r.h) > 0 {
		m := heap.Pop(&r.h).(Match)
		r.released = m.Time
		out(m)
	}
}

// Len returns the number of matches held.
func (r *Reorderer) Len() int { return len(r.h) }

type matchHeap []Match

func (h matchHeap) Len() int { return len(h) }
func (h matchHeap) Less(i, j int) bool {
	if c := h[i].Time.Compare(h[j].Time); c != 0 {
		return c < 0
	}
	return h[i].Seq < h[j].Seq
}
func (h matchHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *matchHeap) Push(x any)   { *h = append(*h, x.(Match)) }
func (h *matchHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	*h = old[:len(old)-1]
	return m
}
