package engine

import (
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
	// anyEvent lists the rules that apply to every event.
	anyEvent []*Rule
	// noChannel lists the rules for events without a channel (other
	// products' rules plus anyEvent).
	noChannel []*Rule
}

type channelRoutes struct {
	byEID map[string][]*Rule // already merged with all and anyEvent
	all   []*Rule            // channel-wide rules merged with anyEvent
}

func buildRouter(rules []*Rule, chSlot, eidSlot int) router {
	rt := router{chSlot: chSlot, eidSlot: eidSlot, byChannel: map[string]*channelRoutes{}}
	type key struct{ ch, eid string }
	specific := map[key][]*Rule{}
	wide := map[string][]*Rule{}
	for _, r := range rules {
		switch {
		case r.Unrouted:
		case r.anySrc:
			rt.anyEvent = append(rt.anyEvent, r)
		case r.foreign:
			rt.noChannel = append(rt.noChannel, r)
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
	rt.noChannel = mergeRules(rt.noChannel, rt.anyEvent)
	get := func(ch string) *channelRoutes {
		cr := rt.byChannel[ch]
		if cr == nil {
			cr = &channelRoutes{byEID: map[string][]*Rule{}}
			rt.byChannel[ch] = cr
		}
		return cr
	}
	for ch, rs := range wide {
		get(ch).all = mergeRules(rs, rt.anyEvent)
	}
	for k, rs := range specific {
		cr := get(k.ch)
		cr.byEID[k.eid] = mergeRules(rs, wide[k.ch], rt.anyEvent)
	}
	for ch, cr := range rt.byChannel {
		if cr.all == nil {
			cr.all = mergeRules(wide[ch], rt.anyEvent)
		}
	}
	return rt
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
	// Keep rule order stable for reproducible output.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Index < out[j-1].Index; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// candidates returns the rules to test against an event.
func (rt *router) candidates(e *event.Event) []*Rule {
	ci := e.First(rt.chSlot)
	if ci < 0 {
		return rt.noChannel
	}
	cr := rt.byChannel[e.Lower(ci)]
	if cr == nil {
		return rt.anyEvent
	}
	if ei := e.First(rt.eidSlot); ei >= 0 {
		if rs, ok := cr.byEID[strings.TrimSpace(e.Fields[ei].Str)]; ok {
			return rs
		}
	}
	return cr.all
}
