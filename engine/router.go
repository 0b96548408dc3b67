package engine

import (
	"sort"
	"strings"

	"github.com/vigil-detect/vigil/event"
)

// router picks the rules whose log source covers an event, from the
// event's Channel and EventID.
type router struct {
	chSlot, eidSlot int
	// byChannel maps a lower-case channel to its rules: for each event id,
	// the merged list of rules for that id and for the whole channel.
	byChannel map[string]*channelRoutes
	// anyEvent holds the rules that apply to every event.
	anyEvent *bucket
	// noChannel holds the rules for events without a channel (other
	// products' rules plus anyEvent).
	noChannel *bucket
}

type channelRoutes struct {
	byEID map[string]*bucket // already merged with all and anyEvent
	all   *bucket            // channel-wide rules merged with anyEvent
}

// bucket is the set of rules one kind of event is tested against, split
// for the pre-filter.
type bucket struct {
	rules  []*Rule // all, in rule order
	always []*Rule // rules without a pre-filter requirement
	member []bool  // rule index -> in this bucket (gated rules)
	slots  []int   // indexes into prefilter.slots that gated rules need
	// kw, when some gated rule needs the keyword scan, scans the fields
	// no gated rule names for the keyword literals of this bucket's rules
	// only: smaller than the automaton of every keyword literal, so it
	// stays in the nearest cache.
	kw *kwScan
}

func buildRouter(rules []*Rule, chSlot, eidSlot int, pf *prefilter) router {
	rt := router{chSlot: chSlot, eidSlot: eidSlot, byChannel: map[string]*channelRoutes{}}
	type key struct{ ch, eid string }
	specific := map[key][]*Rule{}
	wide := map[string][]*Rule{}
	var anyEvent, noChannel []*Rule
	for _, r := range rules {
		switch {
		case r.Unrouted:
		case r.anySrc:
			anyEvent = append(anyEvent, r)
		case r.foreign:
			noChannel = append(noChannel, r)
		default:
			for _, s := range r.sources {
				ch := event.ToLower(s.Channel)
				if len(s.EventIDs) == 0 {
					wide[ch] = appendUnique(wide[ch], r)
					continue
				}
				for _, id := range s.EventIDs {
					specific[key{ch, id}] = appendUnique(specific[key{ch, id}], r)
				}
			}
		}
	}
	nb := func(lists ...[]*Rule) *bucket { return newBucket(mergeRules(lists...), len(rules), pf) }
	rt.anyEvent = nb(anyEvent)
	rt.noChannel = nb(noChannel, anyEvent)
	get := func(ch string) *channelRoutes {
		cr := rt.byChannel[ch]
		if cr == nil {
			cr = &channelRoutes{byEID: map[string]*bucket{}}
			rt.byChannel[ch] = cr
		}
		return cr
	}
	for ch, rs := range wide {
		get(ch).all = nb(rs, anyEvent)
	}
	for k, rs := range specific {
		cr := get(k.ch)
		cr.byEID[k.eid] = nb(rs, wide[k.ch], anyEvent)
	}
	for ch, cr := range rt.byChannel {
		if cr.all == nil {
			cr.all = nb(wide[ch], anyEvent)
		}
	}
	return rt
}

func newBucket(rules []*Rule, nrules int, pf *prefilter) *bucket {
	b := &bucket{rules: rules}
	needSlot := map[int]bool{}
	var kwLits []string
	for _, r := range rules {
		if !pf.gated[r.Index] {
			b.always = append(b.always, r)
			continue
		}
		if b.member == nil {
			b.member = make([]bool, nrules)
		}
		b.member[r.Index] = true
		for _, l := range pf.reqs[r.Index] {
			if l.slot < 0 {
				kwLits = append(kwLits, l.s)
			} else {
				needSlot[l.slot] = true
			}
		}
	}
	if len(kwLits) > 0 {
		b.kw = pf.keywordScan(kwLits)
	}
	for i := range pf.slots {
		ss := &pf.slots[i]
		if needSlot[ss.slot] {
			b.slots = append(b.slots, i)
			if b.kw != nil {
				ss.needAny = true
			} else {
				ss.needPlain = true
			}
		}
	}
	return b
}

func appendUnique(rs []*Rule, r *Rule) []*Rule {
	for _, x := range rs {
		if x == r {
			return rs
		}
	}
	return append(rs, r)
}

// mergeRules merges rule lists into one, in rule order, without
// duplicates.
func mergeRules(lists ...[]*Rule) []*Rule {
	seen := map[*Rule]bool{}
	var out []*Rule
	for _, l := range lists {
		for _, r := range l {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// routeCache remembers the last channel a goroutine routed: logs come in
// runs of one channel, and comparing the raw channel name is cheaper than
// lower-casing it and looking it up.
type routeCache struct {
	channel string
	routes  *channelRoutes
}

// route returns the bucket of rules to test against an event.
func (rt *router) route(e *event.Event, rc *routeCache) *bucket {
	ci := e.First(rt.chSlot)
	if ci < 0 {
		return rt.noChannel
	}
	var cr *channelRoutes
	if ch := e.Fields[ci].Str; rc != nil && rc.routes != nil && ch == rc.channel {
		cr = rc.routes
	} else {
		cr = rt.byChannel[e.Lower(ci)]
		if cr == nil {
			return rt.anyEvent
		}
		if rc != nil {
			rc.channel, rc.routes = strings.Clone(ch), cr
		}
	}
	if ei := e.First(rt.eidSlot); ei >= 0 {
		if b, ok := cr.byEID[eventIDKey(e.Fields[ei].Str)]; ok {
			return b
		}
	}
	return cr.all
}
