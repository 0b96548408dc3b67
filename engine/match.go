package engine

import (
	"fmt"
	"slices"

	"github.com/vigil-detect/vigil/event"
)

// Matcher matches events against an engine's rules. It holds the scratch
// space of matching, so that matching allocates nothing; it is not safe for
// concurrent use: use one Matcher per goroutine.
type Matcher struct {
	eng *Engine
	sc  *scratch
	rc  routeCache
	// Unfiltered disables the literal pre-filter (for testing that it
	// changes nothing).
	Unfiltered bool
}

// NewMatcher returns a matcher for the engine.
func (eng *Engine) NewMatcher() *Matcher {
	return &Matcher{eng: eng, sc: newScratch(len(eng.rules), eng.pf.nlits)}
}

// Match appends to dst the rules that match the event and returns it. The
// event must have been decoded with the engine's Schema. It is safe for
// concurrent use; goroutines that match many events should each use their
// own Matcher instead, which avoids a pool round trip per event.
func (eng *Engine) Match(e *event.Event, dst []*Rule) ([]*Rule, error) {
	m := Matcher{eng: eng, sc: eng.scratch.Get().(*scratch)}
	out, err := m.Match(e, dst)
	eng.scratch.Put(m.sc)
	return out, err
}

// Match appends to dst the rules that match the event, in rule order, and
// returns it. A rule that panics on an event is reported through the
// returned error and treated as not matching; the other rules are still
// tested.
func (m *Matcher) Match(e *event.Event, dst []*Rule) (out []*Rule, err error) {
	b := m.eng.router.route(e, &m.rc)
	n0 := len(dst)
	defer func() {
		if p := recover(); p != nil {
			out, err = m.matchSlow(e, b, dst[:n0])
		}
	}()
	if b.member == nil || m.Unfiltered {
		for _, r := range b.rules {
			if r.match(e) {
				dst = append(dst, r)
			}
		}
		return dst, nil
	}
	m.eng.pf.run(e, b, m.sc)
	cands := m.sc.rules
	if len(cands) == 0 {
		for _, r := range b.always {
			if r.match(e) {
				dst = append(dst, r)
			}
		}
		return dst, nil
	}
	slices.Sort(cands)
	// Merge the always-tested rules with the candidates, in rule order.
	rules := m.eng.rules
	i := 0
	for _, r := range b.always {
		for i < len(cands) && int(cands[i]) < r.Index {
			if c := rules[cands[i]]; c.match(e) {
				dst = append(dst, c)
			}
			i++
		}
		if r.match(e) {
			dst = append(dst, r)
		}
	}
	for ; i < len(cands); i++ {
		if c := rules[cands[i]]; c.match(e) {
			dst = append(dst, c)
		}
	}
	return dst, nil
}

// matchSlow tests every rule of the bucket with a recover around each, used
// once a rule has panicked, to find which.
func (m *Matcher) matchSlow(e *event.Event, b *bucket, dst []*Rule) ([]*Rule, error) {
	var err error
	for _, r := range b.rules {
		ok, perr := func() (ok bool, perr error) {
			defer func() {
				if p := recover(); p != nil {
					perr = fmt.Errorf("rule %s (%s): panic while matching: %v", r.ID(), r.Sigma.Pos.File, p)
				}
			}()
			return r.match(e), nil
		}()
		if perr != nil && err == nil {
			err = perr
		}
		if ok {
			dst = append(dst, r)
		}
	}
	return dst, err
}
