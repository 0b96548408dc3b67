package engine

import "slices"

// litSet answers "does the text contain any of these literals?" in one
// pass: an Aho-Corasick automaton kept as a trie with failure links and
// sparse edges, so that its size follows the literals' length (a few bytes
// per state) rather than states times alphabet as the pre-filter's dense
// automata do. Field items with long lists of substrings are many (about
// 850 in the SigmaHQ Windows rules); dense tables for them would take tens
// of megabytes. The literals are lower-case; upper-case ASCII letters of
// the text are folded as they are read.
type litSet struct {
	root  [256]int32 // state after reading a byte at the root
	first []int32    // state -> index of its first edge in bytes/next
	count []uint16   // state -> number of edges
	bytes []byte     // edge labels, sorted per state
	next  []int32    // edge targets
	fail  []int32
	term  []bool // state ends a literal, itself or through its failure chain
}

func newLitSet(lits []string) *litSet {
	// Trie with map edges first, then flattened.
	type node struct {
		kids map[byte]int32
		end  bool
	}
	nodes := []node{{}}
	for _, l := range lits {
		st := int32(0)
		for i := 0; i < len(l); i++ {
			if nodes[st].kids == nil {
				nodes[st].kids = map[byte]int32{}
			}
			t, ok := nodes[st].kids[l[i]]
			if !ok {
				t = int32(len(nodes))
				nodes = append(nodes, node{})
				nodes[st].kids[l[i]] = t
			}
			st = t
		}
		nodes[st].end = true
	}
	n := len(nodes)
	s := &litSet{first: make([]int32, n), count: make([]uint16, n), fail: make([]int32, n), term: make([]bool, n)}
	for i := range nodes {
		keys := make([]byte, 0, len(nodes[i].kids))
		for b := range nodes[i].kids {
			keys = append(keys, b)
		}
		slices.Sort(keys)
		s.first[i] = int32(len(s.bytes))
		s.count[i] = uint16(len(keys))
		for _, b := range keys {
			s.bytes = append(s.bytes, b)
			s.next = append(s.next, nodes[i].kids[b])
		}
		s.term[i] = nodes[i].end
	}
	// Breadth-first failure links.
	queue := make([]int32, 0, n)
	for b, t := range nodes[0].kids {
		s.root[b] = t
		queue = append(queue, t)
	}
	for len(queue) > 0 {
		st := queue[0]
		queue = queue[1:]
		if s.term[s.fail[st]] {
			s.term[st] = true
		}
		for k := s.first[st]; k < s.first[st]+int32(s.count[st]); k++ {
			b, t := s.bytes[k], s.next[k]
			f := s.fail[st]
			for {
				if g := s.child(f, b); g > 0 {
					s.fail[t] = g
					break
				}
				if f == 0 {
					break // fail[t] stays the root
				}
				f = s.fail[f]
			}
			queue = append(queue, t)
		}
	}
	return s
}

// child returns the state reached from st on b, or 0 when st has no such
// edge (no edge leads back to the root).
func (s *litSet) child(st int32, b byte) int32 {
	if st == 0 {
		return s.root[b]
	}
	i, end := s.first[st], s.first[st]+int32(s.count[st])
	for ; i < end; i++ {
		if c := s.bytes[i]; c == b {
			return s.next[i]
		} else if c > b {
			break
		}
	}
	return 0
}

// containsFold reports whether any literal occurs in text, upper-case
// ASCII letters read as lower-case (text other than ASCII must be passed
// lower-cased).
func (s *litSet) containsFold(text string) bool {
	st := int32(0)
	for i := 0; i < len(text); i++ {
		b := text[i]
		if b >= 'A' && b <= 'Z' {
			b += 'a' - 'A'
		}
		for {
			if t := s.child(st, b); t > 0 {
				st = t
				break
			}
			if st == 0 {
				break
			}
			st = s.fail[st]
		}
		if s.term[st] {
			return true
		}
	}
	return false
}
