package convert

import "strings"

// Absent is a condition a target's table cannot evaluate because the
// field has no column there (or because the value can never be of the
// column's type), with the reason.
type Absent struct {
	Cond   *Cond
	Reason string
}

// Error returns the positioned error of an absent condition.
func (a Absent) Error(target string) *Error {
	return Unsupported(a.Cond.Pos, target, "%s", a.Reason)
}

// DropAbsent removes from a query tree the conditions that absent
// reports, deciding soundly per detection item or per rule.
//
// A table without the field never holds a value for it, so over that
// table the condition has the value it has on an absent field, as in
// vigil's engine: false, except exists: false and null, which hold.
// These constants are folded into the tree:
//   - a false alternative of an or is left out: the query loses only
//     matches the table cannot produce (the item is dropped, and
//     reported in dropped);
//   - a false operand of an and makes the and false (and so one
//     alternative less, or the whole rule);
//   - a true constant that would absorb real conditions (an and
//     operand: a filter under "not" that can never match, so the rule
//     would lose its exclusion; an or operand: the rule would match
//     everything) widens the query beyond the rule's meaning: the rule
//     is refused;
//   - a rule left with nothing (always false: it can never match on the
//     table; always true) is refused.
//
// The refusal names every absent condition (err holds the first's
// position). The tree returned is flattened (nested and/or of the same
// operator spliced in).
func DropAbsent(n Node, target string, absent func(*Cond) (string, bool)) (out Node, dropped []Absent, err error) {
	var all []Absent
	widened := ""
	var eval func(n Node) (Node, *bool)
	eval = func(n Node) (Node, *bool) {
		switch n := n.(type) {
		case *Cond:
			reason, ok := absent(n)
			if !ok {
				return n, nil
			}
			all = append(all, Absent{n, reason})
			v := n.Op == OpNull || (n.Op == OpExists && !n.Exists)
			return nil, &v
		case *Not:
			x, c := eval(n.Arg)
			if c != nil {
				v := !*c
				return nil, &v
			}
			return &Not{x}, nil
		case *And, *Or:
			isAnd := false
			var args []Node
			if a, ok := n.(*And); ok {
				isAnd, args = true, a.Args
			} else {
				args = n.(*Or).Args
			}
			var keep []Node
			for _, a := range args {
				x, c := eval(a)
				switch {
				case c == nil:
					keep = append(keep, x)
				case *c != isAnd:
					// false in an and, true in an or: decides it
					v := *c
					return nil, &v
				case isAnd && widened == "":
					// a true operand of an and: dropped, the and widens
					widened = "a filter or condition on it can never hold there, so leaving it out would widen the query beyond the rule"
				}
				// a false operand of an or: dropped
			}
			if len(keep) == 0 {
				v := isAnd
				return nil, &v
			}
			if isAnd {
				return andOf(keep), nil
			}
			return orOf(keep), nil
		}
		return n, nil
	}
	x, c := eval(n)
	if len(all) == 0 {
		return simplify(n), nil, nil
	}
	var reasons []string
	for _, a := range all {
		reasons = append(reasons, a.Reason)
	}
	list := strings.Join(dedup(reasons), "; ")
	switch {
	case c != nil && !*c:
		return nil, nil, Unsupported(all[0].Cond.Pos, target, "%s: the rule can never match there (every alternative needs it); not converted", list)
	case c != nil && *c:
		return nil, nil, Unsupported(all[0].Cond.Pos, target, "%s: the rule would match every event; not converted", list)
	case widened != "":
		return nil, nil, Unsupported(all[0].Cond.Pos, target, "%s: %s; not converted", list, widened)
	}
	return simplify(x), all, nil
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// Warning is a note on a converted query: what the target left out
// and why.
type Warning = Error

// Checker is implemented by back ends that check a prepared rule against
// what the target's tables hold (columns and their types) before
// writing it. Check may replace p.Tree (dropping conditions the table
// cannot hold, per DropAbsent); it returns what it dropped as warnings,
// or an error refusing the rule.
type Checker interface {
	Check(p *Prepared) (warnings []*Warning, err error)
}

func safeCheck(ch Checker, p *Prepared) (w []*Warning, err error) {
	defer func() {
		if x := recover(); x != nil {
			err = errorf(p.Rule.Pos, "internal error checking rule %q: %v", p.Rule.Title, x)
		}
	}()
	return ch.Check(p)
}
