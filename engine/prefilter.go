package engine

import (
	"hash/maphash"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/sigma"
	"github.com/vigil-detect/vigil/sigma/condition"
)

// The literal pre-filter. For every rule, compile time derives a
// requirement: a set of (field, literal) pairs at least one of which must
// occur (in lower case) in the event for the rule to have any chance of
// matching. At match time, one Aho-Corasick pass per field finds which
// literals occur, and only rules whose requirement is met, plus rules that
// have none, are evaluated. The requirement is necessary, never
// sufficient, so the result is the same as testing every rule.

// maxLiteral is the longest literal prefix the pre-filter searches for.
const maxLiteral = 12

// lit is one required literal: slot -1 means any field (keywords).
type lit struct {
	slot int
	s    string
}

// requirement is a disjunction of literals; nil means "no requirement".
type requirement []lit

// addLiterals records, for a rule value, the literal each of its patterns
// cannot match without (the longest literal run of the pattern).
func (c *compiler) addLiterals(v *sigma.Value, pats []pattern) {
	if c.valueLits == nil {
		c.valueLits = map[*sigma.Value][]string{}
	}
	var out []string
	for i := range pats {
		best := ""
		for _, l := range pats[i].literals() {
			if len(l) > len(best) {
				best = l
			}
		}
		if best == "" {
			c.valueLits[v] = nil
			return
		}
		// A prefix of a needed literal is needed too; short prefixes keep
		// the automata small (hash lists would otherwise need hundreds of
		// thousands of states) at a negligible cost in selectivity.
		out = append(out, literalWindow(best))
	}
	if len(out) == 0 {
		return
	}
	c.valueLits[v] = out
}

// commonText are substrings found in most Windows events (paths of the
// system and of programs, file extensions): a pre-filter literal made of
// them filters little.
var commonText = []string{`c:\windows\`, `\windows\`, `\system32\`, `\syswow64\`, `program files`, `\programdata\`,
	`\users\`, `\appdata\`, `\microsoft\`, `microsoft`, `.exe`, `.dll`, `\software\`, `\currentversion\`, `hklm\`, `hkcu\`}

// literalWindow returns the literal itself when it is at most maxLiteral
// bytes long, or else the maxLiteral-byte substring of it that overlaps
// common text the least (the earliest of equals). Any substring of a
// needed literal is needed too; the one avoiding ":\windows\sy" in
// ":\windows\sysnative\" filters far better than the prefix.
func literalWindow(l string) string {
	if len(l) <= maxLiteral {
		return l
	}
	common := make([]bool, len(l))
	for _, c := range commonText {
		for from := 0; ; {
			j := strings.Index(l[from:], c)
			if j < 0 {
				break
			}
			for k := from + j; k < from+j+len(c); k++ {
				common[k] = true
			}
			from += j + 1
		}
	}
	best, bestScore := 0, maxLiteral+1
	for start := 0; start+maxLiteral <= len(l); start++ {
		n := 0
		for _, c := range common[start : start+maxLiteral] {
			if c {
				n++
			}
		}
		if n < bestScore {
			best, bestScore = start, n
		}
	}
	return l[best : best+maxLiteral]
}

// score ranks requirements: longer shortest literal first, then fewer
// literals. Longer literals occur less often, so they filter better.
func (r requirement) score() (int, int) {
	short := 1 << 30
	for _, l := range r {
		if len(l.s) < short {
			short = len(l.s)
		}
	}
	return min(short, 8), -len(r)
}

func better(a, b requirement) requirement {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	as, an := a.score()
	bs, bn := b.score()
	if bs > as || bs == as && bn > an {
		return b
	}
	return a
}

func (c *compiler) itemRequirement(it *sigma.Item) requirement {
	if it.Has("neq") || it.Has("exists") {
		return nil
	}
	slot := -1
	if it.Field != "" {
		slot = c.slot(it.Field)
	}
	all := it.Has("all") && len(it.Values) > 1
	var union requirement
	var best requirement
	for _, v := range it.Values {
		lits, ok := c.valueLits[v]
		if !ok || len(lits) == 0 {
			if !all {
				return nil
			}
			continue
		}
		var r requirement
		for _, l := range lits {
			r = append(r, lit{slot, l})
		}
		if all {
			best = better(best, r)
		} else {
			union = append(union, r...)
		}
	}
	if all {
		return best
	}
	return union
}

func (c *compiler) searchRequirement(s *sigma.Search) requirement {
	var union requirement
	for _, sel := range s.Alternatives {
		var best requirement
		for _, it := range sel.Items {
			best = better(best, c.itemRequirement(it))
		}
		if best == nil {
			return nil
		}
		union = append(union, best...)
	}
	return union
}

func (c *compiler) condRequirement(n condition.Node, d *sigma.Detection) requirement {
	switch n := n.(type) {
	case *condition.And:
		var best requirement
		for _, a := range n.Args {
			best = better(best, c.condRequirement(a, d))
		}
		return best
	case *condition.Or:
		var union requirement
		for _, a := range n.Args {
			r := c.condRequirement(a, d)
			if r == nil {
				return nil
			}
			union = append(union, r...)
		}
		return union
	case *condition.Ident:
		if s := d.Search(n.Name); s != nil {
			return c.searchRequirement(s)
		}
	case *condition.Of:
		var rs []requirement
		for _, s := range d.Searches {
			if !n.Selects(s.Name) {
				continue
			}
			rs = append(rs, c.searchRequirement(s))
		}
		if n.All {
			var best requirement
			for _, r := range rs {
				best = better(best, r)
			}
			return best
		}
		var union requirement
		for _, r := range rs {
			if r == nil {
				return nil
			}
			union = append(union, r...)
		}
		return union
	}
	return nil
}

func (c *compiler) ruleRequirement(d *sigma.Detection) requirement {
	var union requirement
	for _, cond := range d.Conditions {
		r := c.condRequirement(cond.Expr, d)
		if r == nil {
			return nil
		}
		union = append(union, r...)
	}
	return union
}

// prefilter is the compiled pre-filter of an engine.
type prefilter struct {
	slots []slotScan // fields with literals
	rules [][]int32  // global literal id -> rule indexes requiring it
	gated []bool     // rule index -> has a requirement
	reqs  []requirement
	nlits int
	nac   int // automata, numbered by acMatcher.id for the value caches
	// Keyword literals (required in any field) and their global ids, in
	// the slots' withAny automata and the buckets' kwScans.
	kwLits []string
	kwIDs  []int32
	kwGID  map[string]int32 // keyword literal -> global id
	// kwScans are the keyword automata of the buckets, by their sorted
	// literals joined with NUL (buckets of the same keyword rules share
	// one).
	kwScans map[string]*kwScan
}

// keywords reports whether some rule requires a keyword literal.
func (pf *prefilter) keywords() bool { return len(pf.kwLits) > 0 }

// kwScan is an automaton of some keyword literals.
type kwScan struct {
	ac  *acMatcher
	ids []int32 // literal id in ac -> global literal id
}

// keywordScan returns the automaton of the keyword literals lits (with
// repeats), shared by every bucket asking for the same set.
func (pf *prefilter) keywordScan(lits []string) *kwScan {
	lits = slices.Compact(slices.Sorted(slices.Values(lits)))
	key := strings.Join(lits, "\x00")
	if k := pf.kwScans[key]; k != nil {
		return k
	}
	k := &kwScan{ac: newAC(lits), ids: make([]int32, len(lits))}
	for i, l := range lits {
		k.ids[i] = pf.kwGID[l]
	}
	pf.kwScans[key] = k
	return k
}

type slotScan struct {
	slot int
	lits []string // the field's literals, for building ac
	ac   *acMatcher
	ids  []int32 // literal id in ac -> global literal id
	// needPlain and needAny say which automata the buckets use (set by
	// newBucket; finish builds only those).
	needPlain, needAny bool
	// withAny is the same automaton with the keyword literals added
	// (anyIDs: its literal id -> global literal ids), used when a bucket
	// also needs the keyword scan, so that this field is scanned once.
	withAny *acMatcher
	anyIDs  [][]int32
}

func buildPrefilter(rules []*Rule, reqs []requirement) *prefilter {
	pf := &prefilter{gated: make([]bool, len(rules)), reqs: reqs, kwGID: map[string]int32{}, kwScans: map[string]*kwScan{}}
	type key struct {
		slot int
		s    string
	}
	ids := map[key]int32{}
	perSlot := map[int][]string{}
	perSlotIDs := map[int][]int32{}
	for ri, r := range reqs {
		if r == nil {
			continue
		}
		pf.gated[ri] = true
		for _, l := range r {
			k := key(l)
			id, ok := ids[k]
			if !ok {
				id = int32(len(pf.rules))
				ids[k] = id
				pf.rules = append(pf.rules, nil)
				perSlot[l.slot] = append(perSlot[l.slot], l.s)
				perSlotIDs[l.slot] = append(perSlotIDs[l.slot], id)
			}
			rs := pf.rules[id]
			if len(rs) == 0 || rs[len(rs)-1] != int32(ri) {
				pf.rules[id] = append(rs, int32(ri))
			}
		}
	}
	pf.nlits = len(pf.rules)
	var slots []int
	for s := range perSlot {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	for _, s := range slots {
		if s < 0 {
			pf.kwLits, pf.kwIDs = perSlot[s], perSlotIDs[s]
			for i, l := range pf.kwLits {
				pf.kwGID[l] = pf.kwIDs[i]
			}
			continue
		}
		pf.slots = append(pf.slots, slotScan{slot: s, lits: perSlot[s], ids: perSlotIDs[s]})
	}
	return pf
}

// finish builds the automata the buckets need: for each field, the one
// with its own literals (buckets without a keyword rule) and/or the one
// with the keyword literals added (buckets with one).
func (pf *prefilter) finish() {
	for i := range pf.slots {
		ss := &pf.slots[i]
		if ss.needPlain || !pf.keywords() {
			ss.ac = newAC(ss.lits)
		}
		if !ss.needAny || !pf.keywords() {
			continue
		}
		// One automaton for the field's literals and the keyword
		// literals; a literal in both gets both global ids.
		index := map[string]int{}
		var lits []string
		add := func(l string, gid int32) {
			k, ok := index[l]
			if !ok {
				k = len(lits)
				index[l] = k
				lits = append(lits, l)
				ss.anyIDs = append(ss.anyIDs, nil)
			}
			ss.anyIDs[k] = append(ss.anyIDs[k], gid)
		}
		for j, l := range ss.lits {
			add(l, ss.ids[j])
		}
		for j, l := range pf.kwLits {
			add(l, pf.kwIDs[j])
		}
		ss.withAny = newAC(lits)
	}
	for _, m := range pf.automata() {
		m.id = pf.nac
		pf.nac++
	}
}

// automata returns every automaton the pre-filter scans with.
func (pf *prefilter) automata() []*acMatcher {
	var out []*acMatcher
	keys := slices.Sorted(maps.Keys(pf.kwScans))
	for _, k := range keys {
		out = append(out, pf.kwScans[k].ac)
	}
	for i := range pf.slots {
		for _, m := range []*acMatcher{pf.slots[i].ac, pf.slots[i].withAny} {
			if m != nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// Field values repeat: the same image paths, parent processes, users,
// registry keys and hashes come back event after event (in the corpus
// EVTX samples, 85% of the values of the fields rules read were among
// the 256 values last seen in that field). Each matcher keeps, per
// automaton, a small direct-mapped cache from a value to the literals it
// holds, and scans only values it has not seen lately. Results do not
// depend on it: a cached result is that of scanning the same text.
const (
	valueCacheSize = 256 // entries per automaton, a power of two
	valueCacheMin  = 8   // shorter values are scanned: as fast as hashing them
	valueCacheMax  = 512 // longer values are scanned: rarely repeated, costly to keep
)

type valueCache struct {
	seed    maphash.Seed
	entries [valueCacheSize]valueCacheEntry
}

type valueCacheEntry struct {
	val  []byte
	hits []int32
	ok   bool
}

// scanCached returns the ids of m's literals occurring in field i of e
// (possibly a cached slice: read it, do not keep or change it).
func (sc *scratch) scanCached(m *acMatcher, e *event.Event, i int) []int32 {
	s := e.Fields[i].Str
	if len(s) < valueCacheMin || len(s) > valueCacheMax {
		sc.hits = m.scanField(e, i, sc.hits[:0])
		return sc.hits
	}
	if m.id >= len(sc.caches) {
		sc.caches = append(sc.caches, make([]*valueCache, m.id+1-len(sc.caches))...)
	}
	c := sc.caches[m.id]
	if c == nil {
		c = &valueCache{seed: maphash.MakeSeed()}
		sc.caches[m.id] = c
	}
	ent := &c.entries[maphash.String(c.seed, s)&(valueCacheSize-1)]
	if ent.ok && string(ent.val) == s {
		return ent.hits
	}
	sc.hits = m.scanField(e, i, sc.hits[:0])
	ent.val = append(ent.val[:0], s...)
	ent.hits = append(ent.hits[:0], sc.hits...)
	ent.ok = true
	return sc.hits
}

// scratch is the per-goroutine state of matching.
type scratch struct {
	stamp    uint32
	ruleSeen []uint32 // rule index -> stamp when its requirement was met
	litSeen  []uint32
	rules    []int32
	hits     []int32
	covered  []uint32      // field index -> stamp when scanned with a field automaton
	caches   []*valueCache // by acMatcher.id
}

func newScratch(nrules, nlits int) *scratch {
	return &scratch{ruleSeen: make([]uint32, nrules), litSeen: make([]uint32, nlits)}
}

// run collects in sc.rules the gated rules of bucket b whose requirement
// the event meets.
func (pf *prefilter) run(e *event.Event, b *bucket, sc *scratch) {
	sc.stamp++
	if sc.stamp == 0 {
		clear(sc.ruleSeen)
		clear(sc.litSeen)
		sc.stamp = 1
	}
	sc.rules = sc.rules[:0]
	stamp := sc.stamp
	member := b.member
	mark := func(gid int32) {
		if sc.litSeen[gid] == stamp {
			return
		}
		sc.litSeen[gid] = stamp
		for _, ri := range pf.rules[gid] {
			if member[ri] && sc.ruleSeen[ri] != stamp {
				sc.ruleSeen[ri] = stamp
				sc.rules = append(sc.rules, ri)
			}
		}
	}
	if b.kw == nil {
		for _, k := range b.slots {
			ss := &pf.slots[k]
			for i := e.First(ss.slot); i >= 0; i = e.Next(i) {
				for _, id := range sc.scanCached(ss.ac, e, i) {
					mark(ss.ids[id])
				}
			}
		}
		return
	}
	// The keyword scan covers every field: fields the bucket's rules
	// name are scanned once, for their literals and the keywords
	// together; the other fields for the keywords alone.
	if cap(sc.covered) < len(e.Fields) {
		sc.covered = make([]uint32, len(e.Fields), 2*len(e.Fields))
	}
	covered := sc.covered[:len(e.Fields)]
	for _, k := range b.slots {
		ss := &pf.slots[k]
		for i := e.First(ss.slot); i >= 0; i = e.Next(i) {
			covered[i] = stamp
			for _, id := range sc.scanCached(ss.withAny, e, i) {
				for _, gid := range ss.anyIDs[id] {
					mark(gid)
				}
			}
		}
	}
	kw := b.kw
	for i := range e.Fields {
		if covered[i] == stamp {
			continue
		}
		for _, id := range sc.scanCached(kw.ac, e, i) {
			mark(kw.ids[id])
		}
	}
}
