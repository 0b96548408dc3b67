package sigmabench

import (
	"cmp"
	"slices"

	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// RuleCount is the match count of one rule (by id) in both engines over
// the distinct events.
type RuleCount struct {
	ID, Title, Path string
	// InVigil and InPeer tell whether each engine loaded the rule.
	InVigil, InPeer bool
	Vigil           int64
	// PeerRaw counts every peer match; PeerTrue only those on events the
	// rule's log source covers (the peer ignores log sources).
	PeerRaw, PeerTrue int64
	// VigilOnly and PeerOnly are the events (indices into the lines) of
	// the first match found by one engine and not the other (-1: none);
	// PeerOffSource is the first peer match outside the log source.
	VigilOnly, PeerOnly, PeerOffSource int
}

// Differs reports whether the engines disagree on the rule.
func (c *RuleCount) Differs() bool { return c.Vigil != c.PeerTrue }

// Comparison is the per-rule match comparison over the distinct events.
type Comparison struct {
	Events                     int
	Vigil, PeerRaw, PeerTrue   int64
	Rules                      []*RuleCount // rules with a match in either engine, by id
	RulesVigil, RulesPeer      int          // rules with at least one (true) match
	MoreVigil, MorePeer, Equal int          // among Rules
}

// Compare runs both engines once over the distinct events and counts
// matches per rule.
func Compare(v *Vigil, p *Peer, lines [][]byte) (*Comparison, error) {
	byID := map[string]*RuleCount{}
	get := func(id string) *RuleCount {
		c := byID[id]
		if c == nil {
			c = &RuleCount{ID: id, VigilOnly: -1, PeerOnly: -1, PeerOffSource: -1}
			byID[id] = c
		}
		return c
	}
	for _, r := range v.Eng.Rules() {
		c := get(r.ID())
		c.InVigil, c.Title, c.Path = true, r.Sigma.Title, r.Sigma.Pos.File
	}
	for _, t := range p.RS.Rules {
		c := get(t.Rule.ID)
		c.InPeer = true
		if c.Title == "" {
			c.Title, c.Path = t.Rule.Title, t.Rule.Path
		}
	}
	var dec jsonl.Decoder
	ev := event.New(v.Eng.Schema())
	m := v.Eng.NewMatcher()
	var dst []*engine.Rule
	cmpRes := &Comparison{Events: len(lines)}
	vHit := map[string]bool{}
	pHit := map[string]bool{}
	for i, l := range lines {
		if err := jsonl.DecodeEvent(&dec, l, ev); err != nil {
			return nil, err
		}
		pe, err := DecodePeer(l)
		if err != nil {
			return nil, err
		}
		clear(vHit)
		clear(pHit)
		v.Norm.Apply(ev)
		dst, _ = m.Match(ev, dst[:0])
		for _, r := range dst {
			vHit[r.ID()] = true
			get(r.ID()).Vigil++
			cmpRes.Vigil++
		}
		for j, t := range p.RS.Rules {
			if m, ok := t.Match(pe); !m || !ok {
				continue
			}
			c := get(t.Rule.ID)
			c.PeerRaw++
			cmpRes.PeerRaw++
			if !p.Applies(j, pe) {
				if c.PeerOffSource < 0 {
					c.PeerOffSource = i
				}
				continue
			}
			c.PeerTrue++
			cmpRes.PeerTrue++
			pHit[t.Rule.ID] = true
			if !vHit[t.Rule.ID] && c.PeerOnly < 0 {
				c.PeerOnly = i
			}
		}
		for id := range vHit {
			if c := byID[id]; !pHit[id] && c.VigilOnly < 0 {
				c.VigilOnly = i
			}
		}
	}
	for _, c := range byID {
		if c.Vigil == 0 && c.PeerRaw == 0 {
			continue
		}
		cmpRes.Rules = append(cmpRes.Rules, c)
		if c.Vigil > 0 {
			cmpRes.RulesVigil++
		}
		if c.PeerTrue > 0 {
			cmpRes.RulesPeer++
		}
		switch {
		case c.Vigil > c.PeerTrue:
			cmpRes.MoreVigil++
		case c.Vigil < c.PeerTrue:
			cmpRes.MorePeer++
		default:
			cmpRes.Equal++
		}
	}
	slices.SortFunc(cmpRes.Rules, func(a, b *RuleCount) int {
		return cmp.Or(cmp.Compare(b.Vigil+b.PeerRaw, a.Vigil+a.PeerRaw), cmp.Compare(a.ID, b.ID))
	})
	return cmpRes, nil
}
