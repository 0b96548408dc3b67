// Package jsonl reads events from JSON: JSON Lines, where each line is one
// event object, with nested objects flattened into dotted field names
// ("winlog.event_data.Image") and arrays into repeated fields.
//
// Decoding is done by a hand-written scanner that allocates nothing per
// event once its buffers have grown: field names and values are slices of
// an arena owned by the event being filled.
package jsonl

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/vigil-detect/vigil/event"
)

// MaxDepth bounds the nesting of objects and arrays.
const MaxDepth = 64

// Decoder turns one JSON object into an event. A Decoder is not safe for
// concurrent use; use one per goroutine.
type Decoder struct {
	buf     []byte // backing array: the record's copy, then the arena
	arena   []byte
	path    []byte // current key prefix
	nameBuf []byte
	ev      *event.Event
	depth   int
	keys    map[string]*keyInfo
	start   keyInfo  // next: the first key of the previous event
	prev    *keyInfo // the current event's previous key (&start: none)
	schema  *event.Schema
	// SchemaOnly, when set before the first Decode, keeps only the fields
	// whose name has a slot in the event's schema: the others are still
	// scanned and checked, but not added to the event. A reader that needs
	// a few known fields (vigil serve's ingest reads only the host) skips
	// storing the rest.
	SchemaOnly bool
}

// ErrNotObject is returned for a line that is valid JSON but not an object.
var ErrNotObject = errors.New("not a JSON object")

// SyntaxError is a JSON syntax error at a byte offset of the line.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset+1, e.Msg)
}

// Decode resets e and fills it with the fields of the JSON object in line.
// The strings of e point into the decoder's arena and stay valid until the
// next call to Decode with the same decoder.
func (d *Decoder) Decode(line []byte, e *event.Event) error {
	e.Reset()
	// Copy the line into the arena so that values can point into it.
	// Growing the arena to fit first keeps every string valid.
	need := 2*len(line) + 64
	if cap(d.buf) < need {
		d.buf = make([]byte, 0, need)
	}
	src := append(d.buf[:0], line...)
	src = src[:len(line):len(line)]
	d.arena = d.buf[len(line):len(line)]
	if d.schema != e.Schema() {
		d.forget()
		d.schema, d.keys = e.Schema(), nil
	}
	d.prev = &d.start
	d.ev = e
	d.path = d.path[:0]
	d.depth = 0
	i := skipWS(src, 0)
	if i >= len(src) {
		return &SyntaxError{i, "empty line"}
	}
	if src[i] != '{' {
		return ErrNotObject
	}
	i, err := d.object(src, i)
	if err != nil {
		return err
	}
	if j := skipWS(src, i); j < len(src) {
		return &SyntaxError{j, "unexpected data after the object"}
	}
	return nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// str makes a string of arena bytes without copying.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (d *Decoder) object(b []byte, i int) (int, error) {
	d.depth++
	if d.depth > MaxDepth {
		return i, &SyntaxError{i, fmt.Sprintf("nested deeper than %d levels", MaxDepth)}
	}
	defer func() { d.depth-- }()
	i++ // '{'
	i = skipWS(b, i)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	plen := len(d.path)
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] != '"' {
			return i, &SyntaxError{i, "expected a field name"}
		}
		key, j, err := d.str(b, i)
		if err != nil {
			return j, err
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return i, &SyntaxError{i, "expected ':' after a field name"}
		}
		i = skipWS(b, i+1)
		if plen > 0 {
			d.path = append(d.path[:plen], '.')
		}
		d.path = append(d.path, key...)
		i, err = d.value(b, i)
		if err != nil {
			return i, err
		}
		d.path = d.path[:plen]
		i = skipWS(b, i)
		if i >= len(b) {
			return i, &SyntaxError{i, "unterminated object"}
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] == '}' {
			return i + 1, nil
		}
		return i, &SyntaxError{i, "expected ',' or '}'"}
	}
}

// add appends a field named after the current key path, renamed by
// fieldName, to the event.
func (d *Decoder) add(value string, kind event.Kind) {
	// Events of one log mostly repeat keys in the same order, and when
	// events of several shapes alternate, each shape's keys still follow
	// one another: try the key that followed the previous key last time
	// before hashing.
	p := d.prev
	k := p.next
	if k == nil || k.path != string(d.path) {
		var ok bool
		if k, ok = d.keys[string(d.path)]; !ok {
			k = d.resolve()
		}
		p.next = k
	}
	d.prev = k
	if k.skip {
		return
	}
	d.ev.AddSlot(k.slot, k.name, value, kind)
}

// keyInfo caches what a key path resolves to, per decoder: its field name
// and schema slot. Real logs use a few hundred distinct keys, so after the
// first events each field costs at most one map lookup.
type keyInfo struct {
	path string // the key path it was resolved from
	name string
	slot int
	skip bool
	next *keyInfo // the key that followed it last time
}

// forget unlinks the cached keys, which are being dropped: none keeps
// another alive, and none is guessed again.
func (d *Decoder) forget() {
	for _, k := range d.keys {
		k.next = nil
	}
	d.start.next = nil
}

// maxKeys bounds the key cache against inputs with unbounded key sets.
const maxKeys = 1 << 14

func (d *Decoder) resolve() *keyInfo {
	if d.keys == nil || len(d.keys) >= maxKeys {
		d.forget()
		d.keys = make(map[string]*keyInfo, 256)
	}
	if d.nameBuf == nil {
		d.nameBuf = make([]byte, 0, 512)
	}
	k := &keyInfo{path: string(d.path)}
	name := fieldName(d.path, d.nameBuf[:0])
	if name == nil {
		k.skip = true
	} else {
		k.name = string(name)
		k.slot = -1
		if s := d.ev.Schema(); s != nil {
			k.slot = s.SlotBytes(name)
		}
		k.skip = d.SchemaOnly && k.slot < 0
	}
	d.keys[k.path] = k
	return k
}

var (
	prefEvent     = []byte("Event.")
	prefSystem    = []byte("Event.System.")
	prefEventData = []byte("Event.EventData.")
	prefUserData  = []byte("Event.UserData.")
	prefWinlogED  = []byte("winlog.event_data.")
	prefWinlogUD  = []byte("winlog.user_data.")
	attrs         = []byte("#attributes.")
	text          = []byte(".#text")
	xmlns         = []byte("xmlns")
)

// fieldName maps a flattened key path to the field name rules use, for
// the shapes that nest Windows event fields:
//
//   - evtx_dump and other XML-to-JSON renderings: Event.System.EventID ->
//     EventID, Event.System.Provider.#attributes.Name -> Provider_Name,
//     Event.EventData.Image -> Image, Event.UserData.<Element>.Param ->
//     Param, X.#text -> X; xmlns attributes are dropped (nil);
//   - Winlogbeat: winlog.event_data.Image -> Image (the other winlog.*
//     and ECS fields keep their names and are aliased by the mapping).
//
// Other paths are returned unchanged. The result may alias path or
// scratch.
func fieldName(path, scratch []byte) []byte {
	if len(path) == 0 {
		return path
	}
	switch path[0] {
	case 'E':
		if !bytes.HasPrefix(path, prefEvent) {
			return path
		}
		var rest []byte
		switch {
		case bytes.HasPrefix(path, prefSystem):
			rest = path[len(prefSystem):]
		case bytes.HasPrefix(path, prefEventData):
			rest = path[len(prefEventData):]
		case bytes.HasPrefix(path, prefUserData):
			rest = path[len(prefUserData):]
			// Drop the UserData root element: keep the leaf.
			if i := bytes.IndexByte(rest, '.'); i >= 0 && !bytes.HasPrefix(rest, attrs) {
				rest = rest[i+1:]
			}
		default:
			if bytes.HasPrefix(path[len(prefEvent):], attrs) {
				return nil // Event's own xmlns
			}
			return path
		}
		rest = bytes.TrimSuffix(rest, text)
		if i := bytes.Index(rest, attrs); i >= 0 {
			attr := rest[i+len(attrs):]
			if bytes.Equal(attr, xmlns) || bytes.HasPrefix(attr, xmlns) {
				return nil
			}
			elem := bytes.TrimSuffix(rest[:i], []byte("."))
			if j := bytes.LastIndexByte(elem, '.'); j >= 0 {
				elem = elem[j+1:]
			}
			if len(elem) == 0 {
				return attr
			}
			// Element_Attr, built in place over the path's bytes.
			out := append(scratch, elem...)
			out = append(out, '_')
			return append(out, attr...)
		}
		if j := bytes.LastIndexByte(rest, '.'); j >= 0 {
			rest = rest[j+1:]
		}
		return rest
	case 'w':
		if bytes.HasPrefix(path, prefWinlogED) {
			return path[len(prefWinlogED):]
		}
		if bytes.HasPrefix(path, prefWinlogUD) {
			rest := path[len(prefWinlogUD):]
			if j := bytes.LastIndexByte(rest, '.'); j >= 0 {
				rest = rest[j+1:]
			}
			return rest
		}
	}
	return path
}

func (d *Decoder) value(b []byte, i int) (int, error) {
	if i >= len(b) {
		return i, &SyntaxError{i, "expected a value"}
	}
	switch c := b[i]; {
	case c == '"':
		s, j, err := d.str(b, i)
		if err != nil {
			return j, err
		}
		d.add(str(s), event.String)
		return j, nil
	case c == '{':
		return d.object(b, i)
	case c == '[':
		d.depth++
		if d.depth > MaxDepth {
			return i, &SyntaxError{i, fmt.Sprintf("nested deeper than %d levels", MaxDepth)}
		}
		defer func() { d.depth-- }()
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			i, err = d.value(b, skipWS(b, i))
			if err != nil {
				return i, err
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return i, &SyntaxError{i, "unterminated array"}
			}
			if b[i] == ',' {
				i++
				continue
			}
			if b[i] == ']' {
				return i + 1, nil
			}
			return i, &SyntaxError{i, "expected ',' or ']'"}
		}
	case c == 't':
		if len(b)-i >= 4 && string(b[i:i+4]) == "true" {
			d.add("true", event.Bool)
			return i + 4, nil
		}
	case c == 'f':
		if len(b)-i >= 5 && string(b[i:i+5]) == "false" {
			d.add("false", event.Bool)
			return i + 5, nil
		}
	case c == 'n':
		if len(b)-i >= 4 && string(b[i:i+4]) == "null" {
			d.add("", event.Null)
			return i + 4, nil
		}
	case c == '-' || c >= '0' && c <= '9':
		j := i + 1
		for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
			j++
		}
		d.add(str(b[i:j]), event.Number)
		return j, nil
	}
	return i, &SyntaxError{i, fmt.Sprintf("unexpected character %q", b[i])}
}

// str scans the string starting at b[i] == '"'. It returns the unescaped
// bytes (a slice of b when there are no escapes, of the arena otherwise)
// and the index after the closing quote.
func (d *Decoder) str(b []byte, i int) ([]byte, int, error) {
	start := i + 1
	q := bytes.IndexByte(b[start:], '"')
	if q < 0 {
		return nil, len(b), &SyntaxError{i, "unterminated string"}
	}
	j := start
	if bs := bytes.IndexByte(b[start:start+q], '\\'); bs < 0 {
		// No escapes: the common case, found with two vectorised scans.
		// Raw control characters, which strict JSON forbids in strings,
		// are accepted: some exporters write tabs unescaped.
		return b[start : start+q], start + q + 1, nil
	} else {
		j = start + bs
	}
	// Slow path: unescape into the arena.
	out := len(d.arena)
	d.arena = append(d.arena, b[start:j]...)
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			return d.arena[out:], j + 1, nil
		case c == '\\':
			if j+1 >= len(b) {
				return nil, j, &SyntaxError{j, "unterminated escape"}
			}
			switch b[j+1] {
			case '"', '\\', '/':
				d.arena = append(d.arena, b[j+1])
				j += 2
			case 'b':
				d.arena = append(d.arena, '\b')
				j += 2
			case 'f':
				d.arena = append(d.arena, '\f')
				j += 2
			case 'n':
				d.arena = append(d.arena, '\n')
				j += 2
			case 'r':
				d.arena = append(d.arena, '\r')
				j += 2
			case 't':
				d.arena = append(d.arena, '\t')
				j += 2
			case 'u':
				r, n, ok := unicodeEscape(b[j:])
				if !ok {
					return nil, j, &SyntaxError{j, "invalid \\u escape"}
				}
				d.arena = utf8.AppendRune(d.arena, r)
				j += n
			default:
				return nil, j, &SyntaxError{j, fmt.Sprintf("invalid escape \\%c", b[j+1])}
			}
		default:
			// Copy the run up to the next quote or backslash at once.
			k := j + 1
			for k < len(b) && b[k] != '"' && b[k] != '\\' {
				k++
			}
			d.arena = append(d.arena, b[j:k]...)
			j = k
		}
	}
	return nil, j, &SyntaxError{i, "unterminated string"}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(v), err == nil
}

// unicodeEscape decodes \uXXXX (and a following low surrogate) at b.
func unicodeEscape(b []byte) (rune, int, bool) {
	r, ok := hex4(b[2:])
	if !ok {
		return 0, 0, false
	}
	if utf16.IsSurrogate(r) {
		if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
			if r2, ok := hex4(b[8:]); ok {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					return dec, 12, true
				}
			}
		}
		return utf8.RuneError, 6, true
	}
	return r, 6, true
}
