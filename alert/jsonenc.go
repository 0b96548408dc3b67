package alert

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-detect/vigil/event"
)

// AppendJSON appends the JSON form of a to dst: the same bytes as
// encoding/json's Encoder with SetEscapeHTML(false) writes for it, without
// the trailing newline. It is written out by hand because alerts are
// frequent on attack data and reflection, map sorting through reflect
// values and per-alert buffers made encoding a large part of a hunt; the
// contract stays that of encoding/json (docs/alerts.md), checked by
// TestAppendJSONMatchesEncodingJSON and FuzzAppendJSON. Values of types
// the encoder does not know (in Context, mostly) go through encoding/json.
// The fields of an event built by EventEncoder.Event are copied from its
// FieldsJSON, the same bytes, encoded then.
func AppendJSON(dst []byte, a *Alert) ([]byte, error) { return appendAlert(dst, a, nil) }

// keyCache holds the sorted keys of the last event fields encoded: events
// of one kind have the same fields, so the next alert's keys are usually
// the same set, which checking costs less than sorting.
type keyCache struct {
	keys []string
}

// sorted returns m's keys in order.
func (c *keyCache) sorted(m map[string]any) []string {
	if c != nil && len(c.keys) == len(m) {
		same := true
		for _, k := range c.keys {
			if _, ok := m[k]; !ok {
				same = false
				break
			}
		}
		if same {
			return c.keys
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if c != nil {
		c.keys = keys
	}
	return keys
}

func appendAlert(dst []byte, a *Alert, kc *keyCache) ([]byte, error) {
	var err error
	dst = append(dst, `{"rule":`...)
	dst = appendRule(dst, &a.Rule)
	if a.Timestamp != nil {
		dst = append(dst, `,"timestamp":`...)
		if dst, err = appendTime(dst, a.Timestamp); err != nil {
			return dst, err
		}
	}
	if a.Host != "" {
		dst = append(dst, `,"host":`...)
		dst = appendString(dst, a.Host)
	}
	dst = append(dst, `,"events":`...)
	if a.Events == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range a.Events {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendEvent(dst, &a.Events[i], kc); err != nil {
				return dst, err
			}
		}
		dst = append(dst, ']')
	}
	if len(a.Group) > 0 {
		dst = append(dst, `,"group":`...)
		keys := make([]string, 0, len(a.Group))
		for k := range a.Group {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i == 0 {
				dst = append(dst, '{')
			} else {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendString(dst, a.Group[k])
		}
		dst = append(dst, '}')
	}
	if a.CorrelationType != "" {
		dst = append(dst, `,"correlation_type":`...)
		dst = appendString(dst, a.CorrelationType)
	}
	if len(a.Context) > 0 {
		dst = append(dst, `,"context":`...)
		if dst, err = appendMap(dst, a.Context); err != nil {
			return dst, err
		}
	}
	if a.Advisory != "" {
		dst = append(dst, `,"advisory":`...)
		dst = appendString(dst, a.Advisory)
	}
	return append(dst, '}'), nil
}

func appendRule(dst []byte, r *Rule) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, r.ID)
	dst = append(dst, `,"title":`...)
	dst = appendString(dst, r.Title)
	if r.Level != "" {
		dst = append(dst, `,"level":`...)
		dst = appendString(dst, r.Level)
	}
	if r.Status != "" {
		dst = append(dst, `,"status":`...)
		dst = appendString(dst, r.Status)
	}
	dst = append(dst, `,"tags":`...)
	dst = appendStrings(dst, r.Tags)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, r.Type)
	if r.Path != "" {
		dst = append(dst, `,"path":`...)
		dst = appendString(dst, r.Path)
	}
	return append(dst, '}')
}

func appendEvent(dst []byte, e *Event, kc *keyCache) ([]byte, error) {
	var err error
	dst = append(dst, `{"source":`...)
	dst = appendSource(dst, &e.Source)
	if e.Timestamp != nil {
		dst = append(dst, `,"timestamp":`...)
		if dst, err = appendTime(dst, e.Timestamp); err != nil {
			return dst, err
		}
	}
	dst = append(dst, `,"fields":`...)
	if e.fieldsJSON != nil {
		dst = append(dst, e.fieldsJSON...)
	} else if e.Fields == nil {
		dst = append(dst, "null"...)
	} else if dst, err = appendFields(dst, e.Fields, kc); err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

func appendSource(dst []byte, s *event.Source) []byte {
	dst = append(dst, `{"path":`...)
	dst = appendString(dst, s.Path)
	if s.Line != 0 {
		dst = append(dst, `,"line":`...)
		dst = strconv.AppendInt(dst, s.Line, 10)
	}
	if s.RecordID != 0 {
		dst = append(dst, `,"record_id":`...)
		dst = strconv.AppendUint(dst, s.RecordID, 10)
	}
	return append(dst, '}')
}

// appendTime writes what time.Time's MarshalJSON writes: RFC 3339 with
// nanoseconds, quoted. MarshalJSON itself handles what the fast path does
// not (years outside 0-9999, offsets encoding/json refuses).
func appendTime(dst []byte, t *time.Time) ([]byte, error) {
	if y := t.Year(); y >= 0 && y <= 9999 && t.Location() == time.UTC {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"'), nil
	}
	return appendFallback(dst, t)
}

func appendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// appendFields writes an event's fields, keys sorted, with the key cache.
func appendFields(dst []byte, m map[string]any, kc *keyCache) ([]byte, error) {
	if len(m) == 0 || kc == nil {
		return appendMap(dst, m)
	}
	return appendSorted(dst, m, kc.sorted(m))
}

// appendMap writes a map with its keys sorted, as encoding/json does.
func appendMap(dst []byte, m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return append(dst, "{}"...), nil
	}
	var small [64]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return appendSorted(dst, m, keys)
}

// appendSorted writes the non-empty map m as an object with its keys in
// the order of keys, which holds each of m's keys once.
func appendSorted(dst []byte, m map[string]any, keys []string) ([]byte, error) {
	var err error
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		if dst, err = appendValue(dst, m[k]); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

func appendValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return appendString(dst, v), nil
	case event.Source:
		return appendSource(dst, &v), nil
	case nil:
		return append(dst, "null"...), nil
	case []any:
		if v == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		var err error
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendValue(dst, x); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		if v == nil {
			return append(dst, "null"...), nil
		}
		return appendMap(dst, v)
	case []string:
		return appendStrings(dst, v), nil
	case bool:
		if v {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case json.Marshaler:
		// Numbers and booleans of events keep their text (event.Map):
		// encoding/json checks and compacts what MarshalJSON returns.
		b, err := v.MarshalJSON()
		if err == nil && plainToken(b) {
			return append(dst, b...), nil
		}
	}
	return appendFallback(dst, v)
}

// plainToken reports whether b is a JSON number, true, false or null:
// encoding/json writes those unchanged.
func plainToken(b []byte) bool {
	switch string(b) {
	case "true", "false", "null":
		return true
	}
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return json.Valid(b)
}

// plainText reports whether s is true, false, null or a JSON number:
// encoding/json writes those unchanged.
func plainText(s string) bool {
	switch s {
	case "true", "false", "null":
		return true
	}
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// appendFallback encodes a value of a type the fast path does not handle
// with encoding/json.
func appendFallback(dst []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does with
// HTML escaping off: quote, backslash and control characters escaped
// (\b \f \n \r \t by name), invalid UTF-8 replaced by \ufffd, and U+2028
// and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			w := s[i : i+8]
			if plain8(uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
				uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56) {
				i += 8
				continue
			}
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plain8 reports whether the 8 bytes of x (read little-endian from a
// string) are ASCII that JSON strings hold unescaped: no control
// character, quote or backslash. It tests them at once (most text has
// nothing to escape).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ ones*'"'
	bs := x ^ ones*'\\'
	// A byte's high bit is set in (v - ones) &^ v where v's byte is zero
	// (and in x - ones*0x20 &^ x where x's is below 0x20); x's own high
	// bits are the non-ASCII bytes.
	care := (x-ones*0x20)&^x | (q-ones)&^q | (bs-ones)&^bs | x
	return care&highs == 0
}

// Entry is a key and value added to an event's fields by AppendEventJSON.
type Entry struct {
	Key   string
	Value any
}

// EventEncoder writes events as JSON objects, the bytes encoding/json
// writes for the map e.Map() with entries added, without building the map.
// It keeps the plans of the last layouts it met (names in event order),
// which the next events usually share (EVTX records of one kind list the
// same fields in the same order, and a log interleaves a few kinds): the
// fields grouped by name in sorted order, each group's key already
// encoded. Not safe for concurrent use.
type EventEncoder struct {
	layouts []*layout // most recently used first, up to maxLayouts
	buf     []byte    // Event's encoding
}

// maxLayouts bounds the plans an EventEncoder keeps.
const maxLayouts = 8

// layout is the plan of the events with the names of one event and the
// keys of one set of entries, in that order.
type layout struct {
	names  []string // field names, in event order
	extra  []string // entry keys
	order  []int    // field indexes (entries: -1-j) sorted by key, stably
	groups []keyGroup
	keys   []byte // each group's `"key":`, after a comma but for the first
}

// keyGroup is one key of the object: order[from:to] are its fields (or
// its entry, which replaces them), keys[:keyEnd] ends with its key.
type keyGroup struct {
	from, to, keyEnd int
	entry            int // -1: none
}

// Append appends e's fields and the entries (keys distinct; an entry
// replaces the fields of its name) as one JSON object with sorted keys; a
// name the event holds several times becomes a list.
func (x *EventEncoder) Append(dst []byte, e *event.Event, entries ...Entry) ([]byte, error) {
	l := x.layout(e, entries)
	var err error
	dst = append(dst, '{')
	keyStart := 0
	for _, g := range l.groups {
		dst = append(dst, l.keys[keyStart:g.keyEnd]...)
		keyStart = g.keyEnd
		switch {
		case g.entry >= 0:
			dst, err = appendValue(dst, entries[g.entry].Value)
		case g.to-g.from == 1:
			dst, err = appendField(dst, &e.Fields[l.order[g.from]])
		default:
			dst = append(dst, '[')
			for n, k := range l.order[g.from:g.to] {
				if n > 0 {
					dst = append(dst, ',')
				}
				if dst, err = appendField(dst, &e.Fields[k]); err != nil {
					break
				}
			}
			dst = append(dst, ']')
		}
		if err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// layout returns the plan of e and entries, planned when none kept has
// their names, in place of the least recently used one.
func (x *EventEncoder) layout(e *event.Event, entries []Entry) *layout {
	for i, l := range x.layouts {
		if l.same(e, entries) {
			copy(x.layouts[1:i+1], x.layouts[:i])
			x.layouts[0] = l
			return l
		}
	}
	var l *layout
	if len(x.layouts) < maxLayouts {
		l = &layout{}
		x.layouts = append(x.layouts, nil)
	} else {
		l = x.layouts[len(x.layouts)-1]
	}
	copy(x.layouts[1:], x.layouts[:len(x.layouts)-1])
	x.layouts[0] = l
	l.plan(e, entries)
	return l
}

// plan records the layout of e and entries: names, sorted groups, keys.
func (l *layout) plan(e *event.Event, entries []Entry) {
	l.names = l.names[:0]
	l.order = l.order[:0]
	l.extra = l.extra[:0]
	l.groups = l.groups[:0]
	l.keys = l.keys[:0]
	// Copies of the names (one string holding them all): the event's
	// may point into buffers its decoder reuses.
	n := 0
	for i := range e.Fields {
		n += len(e.Fields[i].Name)
	}
	var all strings.Builder
	all.Grow(n)
	for i := range e.Fields {
		all.WriteString(e.Fields[i].Name)
	}
	names := all.String()
	for i := range e.Fields {
		n := len(e.Fields[i].Name)
		l.names = append(l.names, names[:n])
		names = names[n:]
		l.order = append(l.order, i)
	}
	for j, en := range entries {
		l.extra = append(l.extra, en.Key)
		l.order = append(l.order, -1-j)
	}
	slices.SortStableFunc(l.order, func(a, b int) int { return strings.Compare(l.keyOf(a), l.keyOf(b)) })
	for from := 0; from < len(l.order); {
		name := l.keyOf(l.order[from])
		g := keyGroup{from: from, to: from + 1, entry: -1}
		for g.to < len(l.order) && l.keyOf(l.order[g.to]) == name {
			g.to++
		}
		for _, k := range l.order[g.from:g.to] {
			if k < 0 {
				g.entry = -1 - k
			}
		}
		if from > 0 {
			l.keys = append(l.keys, ',')
		}
		l.keys = appendString(l.keys, name)
		l.keys = append(l.keys, ':')
		g.keyEnd = len(l.keys)
		l.groups = append(l.groups, g)
		from = g.to
	}
}

func (l *layout) keyOf(k int) string {
	if k < 0 {
		return l.extra[-1-k]
	}
	return l.names[k]
}

// same reports whether e and entries have the layout's names, in order.
func (l *layout) same(e *event.Event, entries []Entry) bool {
	if len(l.names) != len(e.Fields) || len(l.extra) != len(entries) {
		return false
	}
	for i := range e.Fields {
		if e.Fields[i].Name != l.names[i] {
			return false
		}
	}
	for j := range entries {
		if entries[j].Key != l.extra[j] {
			return false
		}
	}
	return true
}

// Event builds the record of an alert on e, as FromEvent does, with its
// fields also encoded by x as JSON (Event.FieldsJSON), the bytes that
// JSONLines and AppendJSON then copy instead of encoding Fields: encoding
// where events are matched, on every core, leaves the single writer only
// copies. With fields false the record has no Fields map (building it is
// most of an alert's cost): give such records only to those encoders, or
// to readers of alerts that do not read fields (Tally, AttackLayer). The
// fields that no encoder can write (a number's text that is no JSON
// number) are kept as a map, whatever fields says, so that writing the
// alert fails as it does for a record of FromEvent.
func (x *EventEncoder) Event(e *event.Event, fields bool) Event {
	var err error
	if x.buf, err = x.Append(x.buf[:0], e); err != nil {
		return FromEvent(e)
	}
	var m map[string]any
	if fields {
		m = e.Map()
	}
	ae := record(e, m)
	ae.fieldsJSON = bytes.Clone(x.buf)
	return ae
}

// appendField writes one field value as event.Event.Map gives it to
// encoding/json: a string, null, or a number or boolean kept as its text.
func appendField(dst []byte, f *event.Field) ([]byte, error) {
	switch f.Kind {
	case event.Null:
		return append(dst, "null"...), nil
	case event.Number, event.Bool:
		if plainText(f.Str) {
			return append(dst, f.Str...), nil
		}
		// What encoding/json makes of other text (compacted, or an
		// error), through the map value event.Map builds.
		m := (&event.Event{Fields: []event.Field{*f}}).Map()
		return appendFallback(dst, m[f.Name])
	}
	return appendString(dst, f.Str), nil
}
