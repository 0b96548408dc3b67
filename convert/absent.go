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
// Written into the rule, that constant either narrows the query (it can
// only lose matches the rule would have had if the field were there) or
// widens it (it can match what the rule, with the field there, would
// not): false where the condition counts positively (under an even
// number of "not"s) narrows, and so does true under an odd number;
// the other two widen. So:
//   - narrowing conditions are folded in and reported in dropped: an
//     alternative of an or that can never hold is left out, an and with
//     an operand that can never hold is false (one alternative less);
//   - a widening condition refuses the rule: typically a filter ("not
//     filter") whose item names a missing column, which would lose its
//     exclusion, or an "exists: false" that would always hold;
//   - a rule left with nothing (it can never match on the table, or
//     would match every event) is refused.
//
// Over the table's own events the query kept matches exactly what the
// rule matches; it never matches an event the rule would not match with
// the fields present. The refusal names every absent condition (err
// holds the first's position). The tree returned is flattened (nested
// and/or of the same operator spliced in).
func DropAbsent(n Node, target string, absent func(*Cond) (string, bool)) (out Node, dropped []Absent, err error) {
	var all []Absent
	widened := ""
	var eval func(n Node, pos bool) (Node, *bool)
	eval = func(n Node, pos bool) (Node, *bool) {
		switch n := n.(type) {
		case *Cond:
			reason, ok := absent(n)
			if !ok {
				return n, nil
			}
			all = append(all, Absent{n, reason})
			v := n.Op == OpNull || (n.Op == OpExists && !n.Exists)
			if v == pos && widened == "" {
				if pos {
					widened = "the condition would always hold there, so the query would match what the rule does not"
				} else {
					widened = "it is in a filter (under \"not\") that can never match there, so the query would lose the rule's exclusion"
				}
			}
			return nil, &v
		case *Not:
			x, c := eval(n.Arg, !pos)
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
				x, c := eval(a, pos)
				switch {
				case c == nil:
					keep = append(keep, x)
				case *c != isAnd:
					// false in an and, true in an or: decides it
					v := *c
					return nil, &v
				}
				// true in an and, false in an or: left out
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
	x, c := eval(n, true)
	if len(all) == 0 {
		return simplify(n), nil, nil
	}
	var reasons []string
	for _, a := range all {
		reasons = append(reasons, a.Reason)
	}
	list := strings.Join(dedup(reasons), "; ")
	switch {
	case widened != "":
		return nil, nil, Unsupported(all[0].Cond.Pos, target, "%s: %s; not converted", list, widened)
	case c != nil && !*c:
		return nil, nil, Unsupported(all[0].Cond.Pos, target, "%s: the rule can never match there (every alternative needs it); not converted", list)
	case c != nil && *c:
		return nil, nil, Unsupported(all[0].Cond.Pos, target, "%s: the rule would match every event; not converted", list)
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
