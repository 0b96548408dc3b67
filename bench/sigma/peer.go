package sigmabench

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	peer "github.com/markuskont/go-sigma-rule-engine"

	"github.com/vigil-detect/vigil/mapping"
)

// Peer is a go-sigma-rule-engine rule set loaded from a rules folder. The
// peer does not document its rule set as safe for concurrent use, so each
// matching goroutine loads its own.
type Peer struct {
	RS *peer.Ruleset
	// Total, Ok, Failed and Unsupported are the peer's own counts: rule
	// files found, rules loaded, rules that failed to parse, rules with a
	// construct it does not support (both are rules it does not run).
	Total, Ok, Failed, Unsupported int
	Load                           time.Duration
	// NoCollapseWS is the peer option used: false (the default) collapses
	// runs of whitespace in every value before comparing it, with a
	// regular expression, on every comparison.
	NoCollapseWS bool
	// src is, per rule, the log-source check used to tell which of the
	// peer's matches are consistent with the rule's log source.
	src []srcFilter
	// groups routes events to rules as the peer's users do (its README
	// leaves log-source filtering to the caller): the rules are grouped
	// by log source, and an event's group is looked up by its channel and
	// event id, as written in the event. Built lazily, one group per
	// distinct (channel, event id); not safe for concurrent use, like the
	// rule set itself.
	groups map[string]map[string][]int
}

// LoadPeer loads the rules under dir with the peer's defaults (parse
// failures counted, not fatal) and the given NoCollapseWS option.
func LoadPeer(dir string, noCollapseWS bool) (*Peer, error) {
	start := time.Now()
	rs, err := peer.NewRuleset(peer.Config{Directory: []string{dir}, NoCollapseWS: noCollapseWS})
	if err != nil {
		return nil, err
	}
	p := &Peer{RS: rs, Total: rs.Total, Ok: rs.Ok, Failed: rs.Failed, Unsupported: rs.Unsupported, Load: time.Since(start), NoCollapseWS: noCollapseWS}
	tbl := mapping.Default()
	p.src = make([]srcFilter, len(rs.Rules))
	for i, t := range rs.Rules {
		ls := t.Rule.Logsource
		p.src[i] = newSrcFilter(tbl, ls.Category, ls.Product, ls.Service)
	}
	return p, nil
}

// RuleIDs returns the id of each loaded rule, by rule index.
func (p *Peer) RuleIDs() []string {
	ids := make([]string, len(p.RS.Rules))
	for i, t := range p.RS.Rules {
		ids[i] = t.Rule.ID
		if ids[i] == "" {
			ids[i] = t.Rule.Title
		}
	}
	return ids
}

// Applies reports whether rule i's log source covers the event, by the
// same channel and event id mapping vigil routes with.
func (p *Peer) Applies(i int, e PeerEvent) bool {
	return p.src[i].applies(e.Channel(), e.EventID())
}

// PeerEvent is an event as the peer expects it: a JSON object decoded by
// encoding/json into map[string]interface{}.
type PeerEvent map[string]any

// DecodePeer decodes one JSON line with encoding/json.
func DecodePeer(line []byte) (PeerEvent, error) {
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, err
	}
	return PeerEvent(m), nil
}

// Select implements the peer's Selector: a top-level lookup (the events
// are flat), falling back to a dotted path through nested objects.
func (e PeerEvent) Select(key string) (any, bool) {
	if v, ok := e[key]; ok {
		return v, true
	}
	if !strings.Contains(key, ".") {
		return nil, false
	}
	var cur any = map[string]any(e)
	for part := range strings.SplitSeq(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Keywords implements the peer's Keyworder: the rendered Windows message,
// the "core message" the peer's README suggests for Windows event logs.
func (e PeerEvent) Keywords() ([]string, bool) {
	if s, ok := e["Message"].(string); ok {
		return []string{s}, true
	}
	return nil, false
}

// Channel returns the event's channel, or "".
func (e PeerEvent) Channel() string {
	s, _ := e["Channel"].(string)
	return s
}

// EventID returns the event's id as text, or "".
func (e PeerEvent) EventID() string {
	switch v := e["EventID"].(type) {
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return strings.TrimSpace(v)
	}
	return ""
}

// Group returns the indices of the rules whose log source covers events of
// this channel and event id: the rule group an event is dispatched to.
func (p *Peer) Group(channel, eid string) []int {
	byID := p.groups[channel]
	if g, ok := byID[eid]; ok {
		return g
	}
	if p.groups == nil {
		p.groups = map[string]map[string][]int{}
	}
	if byID == nil {
		byID = map[string][]int{}
		p.groups[channel] = byID
	}
	g := []int{}
	for i := range p.src {
		if p.src[i].applies(channel, eid) {
			g = append(g, i)
		}
	}
	byID[eid] = g
	return g
}

// matchRouted tests only the rules of the event's log-source group (see
// Group), and adds one to counts[rule index] per match. It returns the
// number of matches; every one is a true match.
func (p *Peer) matchRouted(e PeerEvent, counts []int64) int64 {
	var n int64
	for _, i := range p.Group(e.Channel(), e.EventID()) {
		if match, applicable := p.RS.Rules[i].Match(e); match && applicable {
			counts[i]++
			n++
		}
	}
	return n
}

// matchAll tests every loaded rule against the event, the way the peer's
// README documents (Ruleset.EvalAll or a loop over Ruleset.Rules; the
// loop, which does not allocate results, is the faster), and adds one to
// counts[rule index] per match. It returns the number of matches.
func (p *Peer) matchAll(e PeerEvent, counts []int64) int64 {
	var n int64
	for i, t := range p.RS.Rules {
		if match, applicable := t.Match(e); match && applicable {
			counts[i]++
			n++
		}
	}
	return n
}

// srcFilter tells whether a rule's log source covers an event's channel
// and event id. It mirrors vigil's router: rules that name only the
// product cover every event, rules of another product cover events
// without a channel, rules whose log source is not in the mapping cover
// nothing.
type srcFilter struct {
	any, foreign, never bool
	ch                  map[string]map[string]bool // lower-case channel -> event ids (nil: all)
}

func newSrcFilter(tbl *mapping.Table, category, product, service string) srcFilter {
	srcs, ok := tbl.Resolve(category, product, service)
	switch {
	case ok && srcs == nil:
		return srcFilter{any: true}
	case ok:
		f := srcFilter{ch: map[string]map[string]bool{}}
		for _, s := range srcs {
			ch := strings.ToLower(s.Channel)
			if len(s.EventIDs) == 0 {
				f.ch[ch] = nil
				continue
			}
			ids, seen := f.ch[ch]
			if seen && ids == nil {
				continue // already every event id
			}
			if ids == nil {
				ids = map[string]bool{}
				f.ch[ch] = ids
			}
			for _, id := range s.EventIDs {
				ids[id] = true
			}
		}
		return f
	case !strings.EqualFold(product, "windows"):
		return srcFilter{foreign: true}
	default:
		return srcFilter{never: true}
	}
}

func (f srcFilter) applies(channel, eid string) bool {
	switch {
	case f.never:
		return false
	case f.any:
		return true
	case channel == "":
		return f.foreign
	case f.foreign:
		return false
	}
	ids, ok := f.ch[strings.ToLower(channel)]
	if !ok {
		return false
	}
	return ids == nil || ids[eid]
}
