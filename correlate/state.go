package correlate

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/sigma"
)

// State snapshots: a service that correlates a stream (vigil serve) saves
// a Processor's and a Reorderer's state together with the stream position
// they have consumed, and after a crash restores them and resumes from
// that position, so that windows spanning the crash still fire and no
// match is counted twice. The encoding is JSON; event fields keep their
// JSON text (numbers are restored as json.Number, which writes the same
// text), so restored alerts are byte-identical to uninterrupted ones.
//
// A snapshot refers to rules and correlations by id, title and file: it
// restores into a Set compiled from the same rules. State of correlations
// or rules the Set no longer has is dropped (after a rule reload).

type stateItem struct {
	T      time.Time         `json:"t"`
	Seq    uint64            `json:"seq"`
	Events []int             `json:"ev"`
	Host   string            `json:"host,omitempty"`
	Inst   string            `json:"inst,omitempty"`
	IDF    map[string]string `json:"idf,omitempty"`
	Val    string            `json:"val,omitempty"`
	Num    float64           `json:"num,omitempty"`
}

type stateGroup struct {
	Key   string    `json:"key"`
	Vals  []string  `json:"vals"`
	Last  time.Time `json:"last"`
	Items []int     `json:"items,omitempty"`
	Start time.Time `json:"start,omitzero"`
	Slots []int     `json:"slots,omitempty"` // -1: empty
	Seqs  [][]int   `json:"seqs,omitempty"`  // a nil sequence is empty
}

type stateCorr struct {
	Key    string       `json:"key"`
	Groups []stateGroup `json:"groups"` // least to most recently updated
}

type processorState struct {
	Now    time.Time     `json:"now"`
	Stats  Stats         `json:"stats"`
	Events []alert.Event `json:"events"`
	Items  []stateItem   `json:"items"`
	Corrs  []stateCorr   `json:"corrs"`
}

func corrKey(c *Correlation) string {
	return c.ID() + "\x00" + c.Sigma.Title + "\x00" + c.Sigma.Pos.File
}

func ruleKey(r *sigma.Rule) string {
	return r.ID + "\x00" + r.Title + "\x00" + r.Pos.File
}

// stateWriter numbers items and events so that shared ones are written
// once and restored shared.
type stateWriter struct {
	st     processorState
	items  map[*item]int
	events map[uintptr]int // by the address of the fields map
}

func (w *stateWriter) item(it *item) int {
	if it == nil {
		return -1
	}
	if i, ok := w.items[it]; ok {
		return i
	}
	si := stateItem{T: it.t, Seq: it.seq, Host: it.host, Inst: it.inst, IDF: it.idf, Val: it.val, Num: it.num}
	for _, e := range it.events {
		k := reflect.ValueOf(e.Fields).Pointer()
		j, ok := w.events[k]
		if !ok || k == 0 {
			j = len(w.st.Events)
			w.st.Events = append(w.st.Events, e)
			if k != 0 {
				w.events[k] = j
			}
		}
		si.Events = append(si.Events, j)
	}
	w.items[it] = len(w.st.Items)
	w.st.Items = append(w.st.Items, si)
	return len(w.st.Items) - 1
}

func (w *stateWriter) list(items []*item) []int {
	if items == nil {
		return nil
	}
	out := make([]int, len(items))
	for i, it := range items {
		out[i] = w.item(it)
	}
	return out
}

// MarshalState encodes the processor's state: its open groups with their
// matches, its watermark and its counters.
func (p *Processor) MarshalState() ([]byte, error) {
	w := &stateWriter{items: map[*item]int{}, events: map[uintptr]int{}}
	w.st.Now, w.st.Stats = p.now, p.st
	for _, cs := range p.states {
		sc := stateCorr{Key: corrKey(cs.c), Groups: []stateGroup{}}
		for g := cs.head; g != nil; g = g.next {
			sg := stateGroup{Key: g.key, Vals: g.vals, Last: g.last, Items: w.list(g.items), Start: g.start}
			if g.slots != nil {
				sg.Slots = w.list(g.slots)
			}
			if g.seqs != nil {
				sg.Seqs = make([][]int, len(g.seqs))
				for i, s := range g.seqs {
					sg.Seqs[i] = w.list(s)
				}
			}
			sc.Groups = append(sc.Groups, sg)
		}
		w.st.Corrs = append(w.st.Corrs, sc)
	}
	return json.Marshal(&w.st)
}

// decodeJSON decodes with numbers kept as json.Number: event fields then
// marshal to the text they were read from.
func decodeJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	return d.Decode(v)
}

// UnmarshalState replaces the processor's state with one MarshalState
// wrote (for a Set compiled from the same rules).
func (p *Processor) UnmarshalState(data []byte) error {
	var st processorState
	if err := decodeJSON(data, &st); err != nil {
		return fmt.Errorf("correlation state: %w", err)
	}
	items := make([]*item, len(st.Items))
	for i, si := range st.Items {
		it := &item{t: si.T, seq: si.Seq, host: si.Host, inst: si.Inst, idf: si.IDF, val: si.Val, num: si.Num}
		for _, j := range si.Events {
			if j < 0 || j >= len(st.Events) {
				return fmt.Errorf("correlation state: event %d of %d", j, len(st.Events))
			}
			it.events = append(it.events, st.Events[j])
		}
		items[i] = it
	}
	var bad error
	// list resolves item numbers; -1 (an empty slot) only where holes
	// are allowed.
	list := func(idx []int, holes bool) []*item {
		if idx == nil {
			return nil
		}
		out := make([]*item, len(idx))
		for i, j := range idx {
			switch {
			case j == -1 && holes:
			case j < 0 || j >= len(items):
				bad = fmt.Errorf("correlation state: item %d of %d", j, len(items))
			default:
				out[i] = items[j]
			}
		}
		return out
	}
	byKey := map[string]*corrState{}
	for _, cs := range p.states {
		cs.groups, cs.head, cs.tail = map[string]*group{}, nil, nil
		byKey[corrKey(cs.c)] = cs
	}
	p.now, p.st = st.Now, st.Stats
	p.st.Open = 0
	for _, sc := range st.Corrs {
		cs := byKey[sc.Key]
		if cs == nil {
			continue
		}
		for _, sg := range sc.Groups {
			g := &group{key: sg.Key, vals: sg.Vals, last: sg.Last, items: list(sg.Items, false), start: sg.Start}
			if sg.Slots != nil {
				g.slots = list(sg.Slots, true)
				if len(g.slots) != len(cs.c.Inputs) {
					return fmt.Errorf("correlation state: %s: %d slots for %d inputs", cs.c.ID(), len(g.slots), len(cs.c.Inputs))
				}
			}
			if sg.Seqs != nil {
				if len(sg.Seqs) != len(cs.c.Inputs) {
					return fmt.Errorf("correlation state: %s: %d steps for %d inputs", cs.c.ID(), len(sg.Seqs), len(cs.c.Inputs))
				}
				g.seqs = make([][]*item, len(sg.Seqs))
				for i, s := range sg.Seqs {
					if s != nil && len(s) == 0 {
						return fmt.Errorf("correlation state: %s: an empty sequence", cs.c.ID())
					}
					g.seqs[i] = list(s, false)
				}
			}
			if bad != nil {
				return bad
			}
			if cs.groups[g.key] != nil {
				return fmt.Errorf("correlation state: %s: group %q twice", cs.c.ID(), g.key)
			}
			g.held = g.count() // already in the restored Stats.Held
			cs.groups[g.key] = g
			cs.pushBack(g)
			p.st.Open++
		}
	}
	return bad
}

type stateMatch struct {
	Rule  string      `json:"rule"`
	Time  time.Time   `json:"t"`
	Seq   uint64      `json:"seq"`
	Event alert.Event `json:"event"`
	Host  string      `json:"host,omitempty"`
}

type reordererState struct {
	Late     int64        `json:"late"`
	Newest   time.Time    `json:"newest"`
	Released time.Time    `json:"released"`
	Held     []stateMatch `json:"held"`
}

// MarshalState encodes the reorderer's held matches, its watermark and
// its Late count (Lateness is configuration, not state).
func (r *Reorderer) MarshalState() ([]byte, error) {
	st := reordererState{Late: r.Late, Newest: r.newest, Released: r.released, Held: make([]stateMatch, len(r.h))}
	for i, m := range r.h {
		st.Held[i] = stateMatch{Rule: ruleKey(m.Rule), Time: m.Time, Seq: m.Seq, Event: m.Event, Host: m.Host}
	}
	return json.Marshal(&st)
}

// UnmarshalState replaces the reorderer's state with one MarshalState
// wrote; the matches' rules are looked up in s. Matches of rules s does
// not read are dropped.
func (r *Reorderer) UnmarshalState(data []byte, s *Set) error {
	var st reordererState
	if err := decodeJSON(data, &st); err != nil {
		return fmt.Errorf("reorderer state: %w", err)
	}
	rules := map[string]*sigma.Rule{}
	if s != nil {
		for rule := range s.byRule {
			rules[ruleKey(rule)] = rule
		}
	}
	r.Late, r.newest, r.released = st.Late, st.Newest, st.Released
	r.h = r.h[:0]
	for _, m := range st.Held {
		rule := rules[m.Rule]
		if rule == nil {
			continue
		}
		r.h = append(r.h, Match{Rule: rule, Time: m.Time, Seq: m.Seq, Event: m.Event, Host: m.Host})
	}
	heap.Init(&r.h)
	return nil
}
