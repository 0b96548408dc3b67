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
