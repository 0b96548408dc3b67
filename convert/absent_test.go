package convert

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// evalTree evaluates a tree of conditions on fields "a".."f" under an
// assignment (a field's Cond holds when val[field] is true).
func evalTree(n Node, val map[string]bool) bool {
	switch n := n.(type) {
	case *And:
		for _, a := range n.Args {
			if !evalTree(a, val) {
				return false
			}
		}
		return true
	case *Or:
		for _, a := range n.Args {
			if evalTree(a, val) {
				return true
			}
		}
		return false
	case *Not:
		return !evalTree(n.Arg, val)
	case *Cond:
		return val[n.Field]
	}
	panic(fmt.Sprintf("node %T", n))
}

func randTree(rnd *rand.Rand, depth int) Node {
	if depth == 0 || rnd.Intn(3) == 0 {
		return &Cond{Field: string(rune('a' + rnd.Intn(6))), Op: OpString}
	}
	switch rnd.Intn(3) {
	case 0:
		return &Not{randTree(rnd, depth-1)}
	case 1:
		return &And{[]Node{randTree(rnd, depth-1), randTree(rnd, depth-1), randTree(rnd, depth-1)}[:2+rnd.Intn(2)]}
	}
	return &Or{[]Node{randTree(rnd, depth-1), randTree(rnd, depth-1), randTree(rnd, depth-1)}[:2+rnd.Intn(2)]}
}

// TestDropAbsentSound: on random trees with random absent fields, a tree
// DropAbsent keeps matches exactly the events the rule matches when the
// absent fields are absent (their conditions false), and it never keeps
// a rule whose meaning it would widen: every event it matches, the rule
// matches, whatever the absent fields hold.
func TestDropAbsentSound(t *testing.T) {
	rnd := rand.New(rand.NewSource(7))
	kept, refused := 0, 0
	for i := 0; i < 5000; i++ {
		tree := randTree(rnd, 4)
		absent := map[string]bool{}
		for _, f := range "abcdef" {
			if rnd.Intn(4) == 0 {
				absent[string(f)] = true
			}
		}
		out, _, err := DropAbsent(tree, "t", func(c *Cond) (string, bool) { return "absent " + c.Field, absent[c.Field] })
		if err != nil {
			refused++
			continue
		}
		kept++
		for m := 0; m < 64; m++ {
			val := map[string]bool{}
			for k, f := range "abcdef" {
				val[string(f)] = m&(1<<k) != 0 && !absent[string(f)]
			}
			if got, want := evalTree(out, val), evalTree(tree, val); got != want {
				t.Fatalf("tree %s, absent %v: kept tree %s gives %v, the rule %v on %v", show(tree), absent, show(out), got, want, val)
			}
			// Never wider than the rule with the fields present:
			// whatever the absent fields hold, what the kept tree
			// matches, the rule matches.
			full := map[string]bool{}
			for k, f := range "abcdef" {
				full[string(f)] = m&(1<<k) != 0
			}
			if evalTree(out, full) && !evalTree(tree, full) {
				t.Fatalf("tree %s, absent %v: kept tree %s matches %v, which the rule does not", show(tree), absent, show(out), full)
			}
			Walk(out, func(c *Cond) {
				if absent[c.Field] {
					t.Fatalf("kept tree %s names absent field %s", show(out), c.Field)
				}
			})
		}
	}
	t.Logf("%d kept, %d refused", kept, refused)
	if kept == 0 || refused == 0 {
		t.Errorf("degenerate sample: %d kept, %d refused", kept, refused)
	}
}

// TestDropAbsentNoWidening: a filter that can never match (its field is
// absent) is not silently removed from "sel and not filter".
func TestDropAbsentNoWidening(t *testing.T) {
	tree := &And{[]Node{&Cond{Field: "a"}, &Not{&Cond{Field: "b"}}}}
	if _, _, err := DropAbsent(tree, "t", func(c *Cond) (string, bool) { return "absent", c.Field == "b" }); err == nil {
		t.Error("sel and not filter(absent) kept")
	}
	tree1 := &And{[]Node{&Cond{Field: "a"}, &Not{&Or{[]Node{&Cond{Field: "b"}, &Cond{Field: "c"}}}}}}
	if _, _, err := DropAbsent(tree1, "t", func(c *Cond) (string, bool) { return "absent", c.Field == "b" }); err == nil {
		t.Error("sel and not (filter_b(absent) or filter_c) kept")
	}
	tree2 := &Or{[]Node{&Cond{Field: "a"}, &Cond{Field: "b"}}}
	out, dropped, err := DropAbsent(tree2, "t", func(c *Cond) (string, bool) { return "absent", c.Field == "b" })
	if err != nil || len(dropped) != 1 || show(out) != "a" {
		t.Errorf("a or b(absent): %v %v %v", out, dropped, err)
	}
}

func show(n Node) string {
	switch n := n.(type) {
	case *And:
		return showArgs(n.Args, " and ")
	case *Or:
		return showArgs(n.Args, " or ")
	case *Not:
		return "not " + show(n.Arg)
	case *Cond:
		return n.Field
	}
	return "?"
}

// showArgs shows the arguments of an and/or, parenthesised, joined by op.
func showArgs(args []Node, op string) string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = show(a)
	}
	return "(" + strings.Join(s, op) + ")"
}
