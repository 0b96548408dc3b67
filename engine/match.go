package engine

import (
	"fmt"

	"github.com/vigil-detect/vigil/event"
)

// Match appends to dst the rules that match the event and returns it. The
// event must have been decoded with the engine's Schema. A rule that
// panics on an event is reported through the returned error and treated as
// not matching; the other rules are still tested.
func (eng *Engine) Match(e *event.Event, dst []*Rule) (out []*Rule, err error) {
	cands := eng.router.candidates(e)
	n0 := len(dst)
	defer func() {
		if p := recover(); p != nil {
			out, err = eng.matchSlow(e, cands, dst[:n0])
		}
	}()
	for _, r := range cands {
		if r.match(e) {
			dst = append(dst, r)
		}
	}
	return dst, nil
}

// matchSlow is Match with a recover around each rule, used once a rule has
// panicked, to find which.
func (eng *Engine) matchSlow(e *event.Event, cands []*Rule, dst []*Rule) ([]*Rule, error) {
	var err error
	for _, r := range cands {
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
