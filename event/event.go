// Package event defines the decoded log event that rules are matched
// against, and the schema that tells readers which fields rules use.
//
// Readers fill an Event from their input; the engine reads it. An Event is
// built for speed: its fields live in one slice, the fields that rules
// refer to are reachable through slots assigned by a Schema, and the
// lower-case form of a value is computed once, on first use. Strings held by
// an Event may point into a reader's buffers: they are valid until the
// reader reuses the Event. Clone makes a copy that can be kept.
package event

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Kind is the type of a field value.
type Kind uint8

// Kinds of values. Numbers and booleans keep their text in Value.Str.
const (
	String Kind = iota
	Number
	Bool
	Null
)

// Field is one field of an event. A field with several values (a JSON
// array) appears once per value, under the same name.
type Field struct {
	Name string
	Str  string
	Kind Kind
	next int32 // index+1 of the next field with the same slot
}

// Source locates an event in its input.
type Source struct {
	Path     string `json:"path"`
	Line     int64  `json:"line,omitempty"`      // 1-based line (JSON input)
	RecordID uint64 `json:"record_id,omitempty"` // EVTX record id
}

// Event is one decoded log event. It is not safe for concurrent use.
type Event struct {
	// Time is the event's timestamp, UTC; zero when the input had none.
	Time   time.Time
	Source Source

	Fields []Field

	schema *Schema
	slots  []int32 // slot -> index+1 into Fields of the first value
	tails  []int32 // slot -> index+1 of the last value, for chaining
	used   []int32 // slots set in this event, for Reset
	lower  []string
	lowOK  []bool
	arena  []byte
}

// New returns an empty event whose fields resolve through schema s (which
// may be nil: then no field has a slot and only Get by name works).
func New(s *Schema) *Event {
	e := &Event{schema: s}
	if s != nil {
		e.slots = make([]int32, len(s.names))
		e.tails = make([]int32, len(s.names))
	}
	return e
}

// Schema returns the schema the event resolves fields through.
func (e *Event) Schema() *Schema { return e.schema }

// Reset empties the event for reuse, keeping its buffers.
func (e *Event) Reset() {
	for _, s := range e.used {
		e.slots[s] = 0
		e.tails[s] = 0
	}
	e.used = e.used[:0]
	e.Fields = e.Fields[:0]
	e.lower = e.lower[:0]
	e.lowOK = e.lowOK[:0]
	e.arena = e.arena[:0]
	e.Time = time.Time{}
	e.Source = Source{}
}

// Add appends a field. The name is resolved to a slot when the schema has
// one for it.
func (e *Event) Add(name, value string, kind Kind) {
	slot := -1
	if e.schema != nil {
		slot = e.schema.Slot(name)
	}
	e.AddSlot(slot, name, value, kind)
}

// AddSlot appends a field whose slot the caller already resolved (-1 for
// none).
func (e *Event) AddSlot(slot int, name, value string, kind Kind) {
	e.Fields = append(e.Fields, Field{Name: name, Str: value, Kind: kind})
	idx := int32(len(e.Fields))
	if slot < 0 {
		return
	}
	if e.slots[slot] == 0 {
		e.slots[slot] = idx
		e.used = append(e.used, int32(slot))
	} else {
		e.Fields[e.tails[slot]-1].next = idx
	}
	e.tails[slot] = idx
}

// First returns the index of the first value of a slot, or -1.
func (e *Event) First(slot int) int { return int(e.slots[slot]) - 1 }

// Next returns the index of the next value after field i with the same
// slot, or -1.
func (e *Event) Next(i int) int { return int(e.Fields[i].next) - 1 }

// Has reports whether the slot has a value.
func (e *Event) Has(slot int) bool { return e.slots[slot] != 0 }

// Get returns the first value of a field by name, looked up through the
// schema when the name has a slot and by scanning the fields otherwise
// (case-insensitively).
func (e *Event) Get(name string) (string, bool) {
	if e.schema != nil {
		if s := e.schema.Slot(name); s >= 0 {
			if i := e.First(s); i >= 0 {
				return e.Fields[i].Str, true
			}
			return "", false
		}
	}
	for i := range e.Fields {
		if strings.EqualFold(e.Fields[i].Name, name) {
			return e.Fields[i].Str, true
		}
	}
	return "", false
}

// Host returns the name of the host the event comes from, or "".
func (e *Event) Host() string {
	for _, n := range HostFields {
		if v, ok := e.Get(n); ok && v != "" {
			return v
		}
	}
	return ""
}

// Lower returns the lower-case form of field i's value, computing it on
// first use.
func (e *Event) Lower(i int) string {
	if len(e.lower) < len(e.Fields) {
		n := len(e.Fields)
		if cap(e.lower) >= n {
			e.lower = e.lower[:n]
			e.lowOK = e.lowOK[:n]
			clear(e.lowOK)
		} else {
			e.lower = make([]string, n, n+n/2)
			e.lowOK = make([]bool, n, n+n/2)
		}
	}
	if e.lowOK[i] {
		return e.lower[i]
	}
	s := e.Fields[i].Str
	var l string
	if !needsLower(s) {
		l = s
	} else {
		start := len(e.arena)
		e.arena = AppendLower(e.arena, s)
		// The arena may move when it grows; strings made earlier keep
		// pointing at the old array, which stays valid for them. Lowered
		// strings are only used while matching, never kept, so reusing
		// the arena after Reset is safe.
		if n := len(e.arena) - start; n > 0 {
			l = unsafe.String(&e.arena[start], n)
		}
	}
	e.lower[i], e.lowOK[i] = l, true
	return l
}

func needsLower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// AppendLower appends the lower-case form of s to dst. It is the case
// folding used on both sides of every case-insensitive comparison.
func AppendLower(dst []byte, s string) []byte {
	n := len(dst)
	dst = slices.Grow(dst, len(s))[:n+len(s)]
	out := dst[n:]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return appendLowerSlow(dst[:n+i], s[i:])
		}
		out[i] = asciiLower[c]
	}
	return dst
}

var asciiLower = func() (t [utf8.RuneSelf]byte) {
	for i := range t {
		c := byte(i)
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		t[i] = c
	}
	return t
}()

// appendLowerSlow lower-cases text that may hold multi-byte characters.
func appendLowerSlow(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, asciiLower[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, foldRune(r))
		i += size
	}
	return dst
}

// foldRune maps a rune to the lower case of the smallest rune it is
// case-equivalent to, so that every spelling Unicode treats as the same
// letter folds alike: the long s (ſ) folds to s and the Kelvin sign to k,
// as strings.EqualFold and case-insensitive regular expressions see them.
func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return unicode.ToLower(m)
}

// ToLower returns the lower-case form of s, as AppendLower computes it.
func ToLower(s string) string {
	if !needsLower(s) {
		return s
	}
	return string(AppendLower(make([]byte, 0, len(s)), s))
}

// Clone returns a deep copy of the event that owns its strings and has no
// schema slots (Get still works by name).
func (e *Event) Clone() *Event {
	c := &Event{Time: e.Time, Source: e.Source, schema: e.schema}
	c.Source.Path = strings.Clone(e.Source.Path)
	c.Fields = make([]Field, len(e.Fields))
	if e.schema != nil {
		c.slots = make([]int32, len(e.slots))
		c.tails = make([]int32, len(e.tails))
	}
	for i, f := range e.Fields {
		slot := -1
		if e.schema != nil {
			slot = e.schema.Slot(f.Name)
		}
		c.Fields = c.Fields[:i]
		c.AddSlot(slot, strings.Clone(f.Name), strings.Clone(f.Str), f.Kind)
	}
	return c
}

// Map returns the event's fields as a map for output: a field with several
// values becomes a list. The map owns its strings.
func (e *Event) Map() map[string]any {
	m := make(map[string]any, len(e.Fields))
	// One allocation holds the copies of every name and value (alerts
	// are frequent on attack data; a clone per string was a tenth of a
	// hunt's CPU). It is never appended to beyond its capacity, so the
	// strings made from it stay valid.
	size := 0
	for _, f := range e.Fields {
		size += len(f.Name) + len(f.Str)
	}
	own := make([]byte, 0, size)
	clone := func(s string) string {
		if s == "" {
			return ""
		}
		start := len(own)
		own = append(own, s...)
		return unsafe.String(&own[start], len(s))
	}
	for _, f := range e.Fields {
		f.Name, f.Str = clone(f.Name), clone(f.Str)
		var v any = f.Str
		switch f.Kind {
		case Null:
			v = nil
		case Number, Bool:
			v = jsonLiteral(f.Str)
		}
		if old, ok := m[f.Name]; ok {
			if l, ok := old.([]any); ok {
				m[f.Name] = append(l, v)
			} else {
				m[f.Name] = []any{old, v}
			}
			continue
		}
		m[f.Name] = v
	}
	return m
}

// jsonLiteral is a number or boolean kept as its original text when
// marshalled to JSON.
type jsonLiteral string

// MarshalJSON writes the literal unchanged.
func (j jsonLiteral) MarshalJSON() ([]byte, error) { return []byte(j), nil }

// Set replaces the first value of a slot, and its name (or adds the field
// when the slot has none).
func (e *Event) Set(slot int, name, value string, kind Kind) {
	i := e.First(slot)
	if i < 0 {
		e.AddSlot(slot, name, value, kind)
		return
	}
	e.Fields[i].Name, e.Fields[i].Str, e.Fields[i].Kind = name, value, kind
	if i < len(e.lowOK) {
		e.lowOK[i] = false
	}
}
