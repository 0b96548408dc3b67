package engine

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-detect/vigil/sigma"
	"github.com/vigil-detect/vigil/sigma/condition"
)

// Routing by the event ids a detection requires. A log source such as
// {product: windows, service: security} names a channel but no event id,
// and most rules of such sources test EventID in their detection
// (EventID: 4625 and ...): routed on the channel alone, every such rule
// was tested on every event of the channel. When every way a detection
// can match requires EventID to be one of a finite set of integers, the
// rule is routed to those event ids of its channel only. The set is
// necessary, never sufficient: the rule's own test still runs, so results
// do not change (TestPrefilterChangesNothing and the corpus tests compare).

// eventIDSet is a set of canonical decimal event ids; nil means unknown
// (any event id may match).
type eventIDSet map[string]bool

// detectionEventIDs returns the event ids, sorted, that every match of d
// requires, or nil when d can match other event ids (or none is required).
// Filters are AND-ed with the detection (compileRule), so they can only
// narrow it further: leaving them out keeps the set a necessary one.
func (c *compiler) detectionEventIDs(d *sigma.Detection, eidSlot int) []string {
	var union eventIDSet
	for _, cond := range d.Conditions {
		s := c.condEventIDs(cond.Expr, d, eidSlot)
		if s == nil {
			return nil
		}
		union = unionIDs(union, s)
	}
	if len(union) == 0 {
		return nil
	}
	out := make([]string, 0, len(union))
	for id := range union {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (c *compiler) condEventIDs(n condition.Node, d *sigma.Detection, eidSlot int) eventIDSet {
	switch n := n.(type) {
	case *condition.And:
		var all eventIDSet
		for _, a := range n.Args {
			all = intersectIDs(all, c.condEventIDs(a, d, eidSlot))
		}
		return all
	case *condition.Or:
		var union eventIDSet
		for _, a := range n.Args {
			s := c.condEventIDs(a, d, eidSlot)
			if s == nil {
				return nil
			}
			union = unionIDs(union, s)
		}
		return union
	case *condition.Ident:
		if s := d.Search(n.Name); s != nil {
			return c.searchEventIDs(s, eidSlot)
		}
	case *condition.Of:
		var acc eventIDSet
		for _, s := range d.Searches {
			if !n.Selects(s.Name) {
				continue
			}
			ids := c.searchEventIDs(s, eidSlot)
			if n.All {
				acc = intersectIDs(acc, ids)
				continue
			}
			if ids == nil {
				return nil
			}
			acc = unionIDs(acc, ids)
		}
		return acc
	}
	// Not, and anything else: no requirement.
	return nil
}

// searchEventIDs: a search matches when one of its alternatives does, an
// alternative when all its items do.
func (c *compiler) searchEventIDs(s *sigma.Search, eidSlot int) eventIDSet {
	var union eventIDSet
	for _, sel := range s.Alternatives {
		var all eventIDSet
		for _, it := range sel.Items {
			all = intersectIDs(all, c.itemEventIDs(it, eidSlot))
		}
		if all == nil {
			return nil
		}
		union = unionIDs(union, all)
	}
	return union
}

// itemEventIDs returns the ids an item on EventID without modifiers
// accepts, when each of its values is an integer (a number, or a string
// of decimal digits).
func (c *compiler) itemEventIDs(it *sigma.Item, eidSlot int) eventIDSet {
	if it.Field == "" || len(it.Modifiers) > 0 || len(it.Values) == 0 || c.slot(it.Field) != eidSlot {
		return nil
	}
	out := eventIDSet{}
	for _, v := range it.Values {
		var id string
		switch v.Kind {
		case sigma.NumberValue:
			if v.Num < 0 || v.Num != math.Trunc(v.Num) || v.Num > 1<<31 {
				return nil
			}
			id = strconv.FormatInt(int64(v.Num), 10)
		case sigma.StringValue:
			if !canonicalID(v.Text) {
				return nil
			}
			id = v.Text
		default:
			return nil
		}
		out[id] = true
	}
	return out
}

// canonicalID reports whether s is a decimal integer as the router looks
// it up: digits only, no leading zero, at most 10 digits.
func canonicalID(s string) bool {
	if s == "" || len(s) > 10 || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// eventIDKey returns the router's key for an event's EventID value: the
// value itself when canonical, else the canonical form of the integer it
// denotes as a number (" 4625", "04625", "4625.0"), which the rules'
// numeric tests accept too, or "" when it is not an integer.
func eventIDKey(s string) string {
	if canonicalID(s) {
		return s
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f != math.Trunc(f) || f > 1<<40 {
		return ""
	}
	return strconv.FormatInt(int64(f), 10)
}

// intersectIDs intersects two requirements, where nil (unknown) is the
// neutral element: (EventID: 1 and Image: x) requires 1.
func intersectIDs(a, b eventIDSet) eventIDSet {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := eventIDSet{}
	for id := range a {
		if b[id] {
			out[id] = true
		}
	}
	return out
}

// unionIDs unions two known requirements (nil a is the empty set).
func unionIDs(a, b eventIDSet) eventIDSet {
	out := eventIDSet{}
	for id := range a {
		out[id] = true
	}
	for id := range b {
		out[id] = true
	}
	return out
}
