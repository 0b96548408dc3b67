package convert

import (
	"fmt"
	"strings"
)

// Syntax is how a target writes the boolean structure of a query tree.
// The targets walk the tree the same way and differ only in their tokens,
// in where they need parentheses and in a few forms of their own (IN
// lists, negated null tests): Syntax holds those, Expr does the walk.
type Syntax struct {
	// Target is the target's name, for the error on an unknown node.
	Target string
	// Cond writes one condition.
	Cond func(*Cond) (string, error)
	// Node, if set, may write a node in a form of the target's own; ok
	// false writes it the general way.
	Node func(n Node) (s string, ok bool, err error)
	// Not writes the negation of arg, already written as s.
	Not func(arg Node, s string) string
	// And and Or separate the operands of And and Or.
	And, Or string
	// Paren reports whether an operand of And or Or (sep is its
	// separator) is put in parentheses; nil: operands that are And or Or.
	Paren func(arg Node, sep string) bool
}

// Expr writes a query tree.
func (x *Syntax) Expr(n Node) (string, error) {
	if x.Node != nil {
		if s, ok, err := x.Node(n); ok || err != nil {
			return s, err
		}
	}
	switch n := n.(type) {
	case *Cond:
		return x.Cond(n)
	case *Not:
		s, err := x.Expr(n.Arg)
		if err != nil {
			return "", err
		}
		return x.Not(n.Arg, s), nil
	case *Or:
		return x.Join(n.Args, x.Or)
	case *And:
		return x.Join(n.Args, x.And)
	}
	return "", fmt.Errorf("%s: unknown node %T", x.Target, n)
}

// Join writes operands separated by sep, in parentheses where Paren says.
func (x *Syntax) Join(args []Node, sep string) (string, error) {
	paren := x.Paren
	if paren == nil {
		paren = func(a Node, _ string) bool { return IsAndOr(a) }
	}
	var parts []string
	for _, a := range args {
		s, err := x.Expr(a)
		if err != nil {
			return "", err
		}
		if paren(a, sep) {
			s = "(" + s + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, sep), nil
}

// IsAndOr reports whether n is an And or an Or.
func IsAndOr(n Node) bool {
	switch n.(type) {
	case *And, *Or:
		return true
	}
	return false
}
