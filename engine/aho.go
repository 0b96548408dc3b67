package engine

import "github.com/vigil-detect/vigil/event"

// acMatcher is an Aho-Corasick automaton compiled to a dense DFA over byte
// classes: scanning costs one table load per input byte whatever the number
// of literals. Bytes that occur in no literal share one class.
type acMatcher struct {
	id      int // index among the pre-filter's automata (value caches)
	classes [256]uint8
	nclass  int
	// trans is the DFA: trans[s*nclass+class] is the next state, stored
	// pre-multiplied by nclass, and bit-inverted (negative) when that
	// state reports a literal itself or through its failure chain.
	fold  bool // upper-case ASCII maps to lower-case classes
	trans []int32
	// pre16, used instead of trans when the table has at most 32,767
	// entries (most automata: keyword and field literal sets), is trans
	// in 16 bits: pre-multiplied, bit-inverted likewise.
	pre16 []int16
	// trans16, used for tables too large for pre16 with fewer than 32,768
	// states (the largest automata of the SigmaHQ rules, such as the
	// command line's), holds state numbers (not pre-multiplied), bit-
	// inverted likewise: half trans's memory, so more of them stays in
	// cache, at the cost of a multiplication per byte.
	trans16 []int16
	out     []int32 // state -> literal id ending here, or -1
	dict    []int32 // state -> next state on the failure chain with an output, or -1
	delta   []int32 // state*nclass + class -> state (construction only)
}

// newAC builds an automaton for lits; literal ids are their indexes.
func newAC(lits []string) *acMatcher {
	m := &acMatcher{}
	used := [256]bool{}
	for _, l := range lits {
		for i := 0; i < len(l); i++ {
			used[l[i]] = true
		}
	}
	// Upper-case ASCII letters share the class of their lower-case
	// letter, so ASCII text can be scanned without lower-casing it first
	// (see scanField): the lower-case form of ASCII text is ASCII, which
	// the literals' non-ASCII bytes, if any, never match either way.
	// Lower-case literals hold no upper-case ASCII letter.
	m.fold = true
	m.nclass = 1
	for b := 0; b < 256; b++ {
		if b >= 'A' && b <= 'Z' && m.fold {
			continue
		}
		if used[b] {
			m.classes[b] = uint8(m.nclass)
			m.nclass++
			if m.nclass == 256 {
				// More than 255 distinct bytes: fold the rest into class
				// 0's neighbour. Not reachable with lower-cased text in
				// practice; keep correctness by giving up compression.
				break
			}
		}
	}
	if m.nclass >= 256 {
		m.nclass = 256
		m.fold = false
		for b := 0; b < 256; b++ {
			m.classes[b] = uint8(b)
		}
	}
	if m.fold {
		for b := 'A'; b <= 'Z'; b++ {
			m.classes[b] = m.classes[b+'a'-'A']
		}
	}
	nc := m.nclass
	// Trie, built straight into the transition table: a child is never
	// the root, so 0 means "no child" until the breadth-first pass below
	// fills the missing transitions from the failure links.
	maxStates := 1
	for _, l := range lits {
		maxStates += len(l)
	}
	delta := make([]int32, maxStates*nc)
	m.out = make([]int32, maxStates)
	for i := range m.out {
		m.out[i] = -1
	}
	n := int32(1)
	for id, l := range lits {
		st := int32(0)
		for i := 0; i < len(l); i++ {
			c := int32(m.classes[l[i]])
			t := delta[st*int32(nc)+c]
			if t == 0 {
				t = n
				n++
				delta[st*int32(nc)+c] = t
			}
			st = t
		}
		// Callers pass unique literals, so each state ends at most one.
		if m.out[st] < 0 {
			m.out[st] = int32(id)
		}
	}
	m.delta = delta[:int(n)*nc]
	m.out = m.out[:n]
	m.dict = make([]int32, n)
	fail := make([]int32, n)
	queue := make([]int32, 0, n)
	for c := 0; c < nc; c++ {
		if t := m.delta[c]; t != 0 {
			queue = append(queue, t)
		}
	}
	m.dict[0] = -1
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := fail[s]
		if m.out[f] >= 0 {
			m.dict[s] = f
		} else {
			m.dict[s] = m.dict[f]
		}
		row, frow := m.delta[int(s)*nc:int(s+1)*nc], m.delta[int(f)*nc:int(f+1)*nc]
		for c := 0; c < nc; c++ {
			if t := row[c]; t != 0 {
				fail[t] = frow[c]
				queue = append(queue, t)
			} else {
				row[c] = frow[c]
			}
		}
	}
	// Pre-multiplied states save a multiplication on the dependency
	// chain of each byte (BenchmarkMatchSigmaHQWindows: 10-15 % faster
	// matching than 16-bit state numbers); tables of more than 65,535
	// entries keep 16-bit numbers, which would double in memory.
	entries := int(n) * nc
	if entries <= 1<<15-1 {
		m.pre16 = make([]int16, len(m.delta))
		for i, t := range m.delta {
			v := int16(t * int32(nc))
			if m.out[t] >= 0 || m.dict[t] >= 0 {
				v = ^v
			}
			m.pre16[i] = v
		}
		m.delta = nil
		return m
	}
	if n <= 1<<15 && entries > 1<<16-1 {
		m.trans16 = make([]int16, len(m.delta))
		for i, t := range m.delta {
			v := int16(t)
			if m.out[t] >= 0 || m.dict[t] >= 0 {
				v = ^v
			}
			m.trans16[i] = v
		}
		m.delta = nil
		return m
	}
	m.trans = make([]int32, len(m.delta))
	for i, t := range m.delta {
		v := t * int32(nc)
		if m.out[t] >= 0 || m.dict[t] >= 0 {
			v = ^v
		}
		m.trans[i] = v
	}
	m.delta = nil
	return m
}

// report appends the literals ending at state q.
func (m *acMatcher) report(q int32, hits []int32) []int32 {
	if o := m.out[q]; o >= 0 {
		hits = append(hits, o)
	}
	for d := m.dict[q]; d >= 0; d = m.dict[d] {
		hits = append(hits, m.out[d])
	}
	return hits
}

// scan appends to hits the id of every literal occurring in s.
func (m *acMatcher) scan(s string, hits []int32) []int32 {
	nc := int32(m.nclass)
	if m.pre16 != nil {
		trans, classes := m.pre16, &m.classes
		var st int32 // pre-multiplied current state
		for i := 0; i < len(s); i++ {
			st = int32(trans[st+int32(classes[s[i]])])
			if st < 0 {
				st = ^st
				hits = m.report(st/nc, hits)
			}
		}
		return hits
	}
	if m.trans16 != nil {
		trans, classes := m.trans16, &m.classes
		var st int32 // current state
		for i := 0; i < len(s); i++ {
			st = int32(trans[st*nc+int32(classes[s[i]])])
			if st < 0 {
				st = ^st
				hits = m.report(st, hits)
			}
		}
		return hits
	}
	trans, classes := m.trans, &m.classes
	var st int32 // pre-multiplied current state
	for i := 0; i < len(s); i++ {
		st = trans[st+int32(classes[s[i]])]
		if st < 0 {
			st = ^st
			hits = m.report(st/nc, hits)
		}
	}
	return hits
}

// contains reports whether any literal occurs in s (ASCII upper-case
// letters folded).
func (m *acMatcher) contains(s string) bool {
	if m.pre16 != nil {
		trans, classes := m.pre16, &m.classes
		var st int32
		for i := 0; i < len(s); i++ {
			if st = int32(trans[st+int32(classes[s[i]])]); st < 0 {
				return true
			}
		}
		return false
	}
	if m.trans16 != nil {
		nc := int32(m.nclass)
		trans, classes := m.trans16, &m.classes
		var st int32
		for i := 0; i < len(s); i++ {
			if st = int32(trans[st*nc+int32(classes[s[i]])]); st < 0 {
				return true
			}
		}
		return false
	}
	trans, classes := m.trans, &m.classes
	var st int32
	for i := 0; i < len(s); i++ {
		if st = trans[st+int32(classes[s[i]])]; st < 0 {
			return true
		}
	}
	return false
}

// scanField scans field i of an event: the raw value when the automaton
// folds ASCII case and the value is ASCII, its lower-case form otherwise.
func (m *acMatcher) scanField(e *event.Event, i int, hits []int32) []int32 {
	if s := e.Fields[i].Str; m.fold && isASCII(s) {
		return m.scan(s, hits)
	}
	return m.scan(e.Lower(i), hits)
}

func isASCII(s string) bool {
	for len(s) >= 8 {
		v := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		if v&0x8080808080808080 != 0 {
			return false
		}
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
