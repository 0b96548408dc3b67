package engine

import (
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// TestACMatchesNaive compares the automaton with a naive search on random
// literal sets and texts over a small alphabet (so that literals overlap
// and share prefixes and suffixes).
func TestACMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcAB\\-"[rng.Intn(7)]
		}
		return string(b)
	}
	for round := 0; round < 300; round++ {
		seen := map[string]bool{}
		var lits []string
		for len(lits) < 1+rng.Intn(20) {
			w := strings.ToLower(word(1 + rng.Intn(5)))
			if !seen[w] {
				seen[w] = true
				lits = append(lits, w)
			}
		}
		m := newAC(lits)
		for k := 0; k < 20; k++ {
			text := strings.ToLower(word(rng.Intn(40)))
			var got []int32
			for _, id := range m.scan(text, nil) {
				if !slices.Contains(got, id) {
					got = append(got, id)
				}
			}
			var want []int32
			for id, l := range lits {
				if strings.Contains(text, l) {
					want = append(want, int32(id))
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("lits %q text %q: got %v want %v", lits, text, got, want)
			}
		}
	}
}

// TestACLargeAutomaton checks every transition table layout on the same
// literals and texts (scan and contains): pre-multiplied 16-bit entries
// (small tables), pre-multiplied 32-bit entries (tables of 32,768 to
// 65,535 entries, or of more than 32,768 states), 16-bit state numbers
// (larger tables of fewer states).
func TestACLargeAutomaton(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcdefghij"[rng.Intn(10)]
		}
		return string(b)
	}
	seen := map[string]bool{}
	var lits []string
	for len(lits) < 12000 {
		if w := word(6 + rng.Intn(6)); !seen[w] {
			seen[w] = true
			lits = append(lits, w)
		}
	}
	layout := func(m *acMatcher) string {
		switch {
		case m.pre16 != nil:
			return "pre16"
		case m.trans16 != nil:
			return "trans16"
		}
		return "trans"
	}
	type sized struct {
		m    *acMatcher
		lits []string
	}
	var all []sized
	for _, c := range []struct {
		n    int
		want string
	}{{100, "pre16"}, {500, "trans"}, {2000, "trans16"}, {12000, "trans"}} {
		m := newAC(lits[:c.n])
		if got := layout(m); got != c.want {
			t.Fatalf("%d literals (%d states, %d classes): layout %s, want %s", c.n, len(m.out), m.nclass, got, c.want)
		}
		all = append(all, sized{m, lits[:c.n]})
	}
	for k := 0; k < 300; k++ {
		text := word(rng.Intn(200))
		if k%3 == 0 {
			text += lits[rng.Intn(len(lits))] + word(5)
		}
		for _, c := range all {
			var got, want []int32
			for _, id := range c.m.scan(text, nil) {
				if !slices.Contains(got, id) {
					got = append(got, id)
				}
			}
			for id, l := range c.lits {
				if strings.Contains(text, l) {
					want = append(want, int32(id))
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%d literals, text %q: got %v want %v", len(c.lits), text, got, want)
			}
			if c.m.contains(text) != (len(want) > 0) {
				t.Fatalf("%d literals, text %q: contains %v", len(c.lits), text, !c.m.contains(text))
			}
		}
	}
}
