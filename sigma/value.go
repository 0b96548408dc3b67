package sigma

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the semantics of Sigma string values shared by
// everything that reads them (the matching engine, package engine, and
// the query converter, package convert): the specification's escaping,
// the windash dash class, and the UTF-16 and base64 encodings. Both call
// ParseString and EncodeValue, so that a value means the same thing when
// vigil matches it and when it writes it as a SIEM query.

// TokenKind is the kind of one Token of a Pattern.
type TokenKind uint8

// Token kinds.
const (
	TokLiteral TokenKind = iota // literal text (Token.Lit)
	TokOne                      // '?': exactly one character
	TokAny                      // '*': any run of characters, newlines included, or none
	TokDash                     // windash: one character of the dash class (Dashes)
)

// Token is one token of a Pattern.
type Token struct {
	Kind TokenKind
	Lit  string // TokLiteral only
}

// Pattern is a Sigma string value after escape processing: literal runs,
// wildcards and (after windash) dash classes. The empty pattern matches
// the empty string.
type Pattern []Token

// Dashes are the characters the windash modifier treats as one class:
// hyphen-minus, slash, en dash, em dash and horizontal bar.
const Dashes = "-/\u2013\u2014\u2015"

// IsDash reports whether r is in the windash dash class.
func IsDash(r rune) bool {
	return r == '-' || r == '/' || r == '\u2013' || r == '\u2014' || r == '\u2015'
}

var dashRunes = []rune(Dashes)

// ParseString applies the specification's escaping to a string value:
// '*' and '?' are wildcards (when wildcards is true); a backslash escapes a
// following '*', '?' or backslash and is a literal backslash otherwise
// (so `C:\Windows` needs no doubling, `\\*` is a backslash then a
// wildcard). Consecutive '*' collapse into one TokAny.
func ParseString(s string, wildcards bool) Pattern {
	var out Pattern
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, Token{Kind: TokLiteral, Lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			lit.WriteByte(s[i+1])
			i++
		case wildcards && c == '*':
			flush()
			if len(out) == 0 || out[len(out)-1].Kind != TokAny {
				out = append(out, Token{Kind: TokAny})
			}
		case wildcards && c == '?':
			flush()
			out = append(out, Token{Kind: TokOne})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out
}

// Plain returns the pattern as plain text, wildcards written as '*' and
// '?' and dash classes as '-' (what the encodings see of a value).
func (p Pattern) Plain() string {
	var b strings.Builder
	for _, t := range p {
		switch t.Kind {
		case TokLiteral:
			b.WriteString(t.Lit)
		case TokOne:
			b.WriteByte('?')
		case TokAny:
			b.WriteByte('*')
		case TokDash:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// HasWildcards reports whether the pattern holds anything but literals.
func (p Pattern) HasWildcards() bool {
	for _, t := range p {
		if t.Kind != TokLiteral {
			return true
		}
	}
	return false
}

// Windash replaces every dash character of the literal runs by a dash
// class: vigil's windash matches any of Dashes wherever the value has one
// of them (not only at the start of an option).
func (p Pattern) Windash() Pattern {
	var out Pattern
	for _, t := range p {
		if t.Kind != TokLiteral || !strings.ContainsAny(t.Lit, Dashes) {
			out = append(out, t)
			continue
		}
		start := 0
		for i, r := range t.Lit {
			if IsDash(r) {
				if i > start {
					out = append(out, Token{Kind: TokLiteral, Lit: t.Lit[start:i]})
				}
				out = append(out, Token{Kind: TokDash})
				start = i + utf8.RuneLen(r)
			}
		}
		if start < len(t.Lit) {
			out = append(out, Token{Kind: TokLiteral, Lit: t.Lit[start:]})
		}
	}
	return out
}

// Anchor returns the pattern with a leading and/or trailing TokAny (for
// contains, startswith, endswith), not doubling one already there.
func (p Pattern) Anchor(lead, trail bool) Pattern {
	out := append(Pattern(nil), p...)
	if lead && (len(out) == 0 || out[0].Kind != TokAny) {
		out = append(Pattern{{Kind: TokAny}}, out...)
	}
	if trail && (len(out) == 0 || out[len(out)-1].Kind != TokAny) {
		out = append(out, Token{Kind: TokAny})
	}
	return out
}

// Merge joins adjacent literal runs, drops empty ones and collapses
// adjacent TokAny: the canonical form of a pattern.
func (p Pattern) Merge() Pattern {
	var out Pattern
	for _, t := range p {
		if t.Kind == TokLiteral && t.Lit == "" {
			continue
		}
		if n := len(out); n > 0 {
			if t.Kind == TokLiteral && out[n-1].Kind == TokLiteral {
				out[n-1].Lit += t.Lit
				continue
			}
			if t.Kind == TokAny && out[n-1].Kind == TokAny {
				continue
			}
		}
		out = append(out, t)
	}
	return out
}

// MaxDashVariants bounds the patterns ExpandDashes makes from the values
// of one item before an encoding.
const MaxDashVariants = 625

// ExpandDashes replaces each pattern holding dash classes by one pattern
// per combination of dashes (5^n for n classes), in order. It fails when
// the patterns of one input would exceed limit.
func ExpandDashes(ps []Pattern, limit int) ([]Pattern, error) {
	var out []Pattern
	for _, p := range ps {
		variants := []Pattern{nil}
		for _, t := range p {
			if t.Kind != TokDash {
				for i := range variants {
					variants[i] = append(variants[i], t)
				}
				continue
			}
			if len(variants)*len(dashRunes) > limit {
				return nil, fmt.Errorf("windash gives more than %d dash combinations; use fewer dashes", limit)
			}
			next := make([]Pattern, 0, len(variants)*len(dashRunes))
			for _, v := range variants {
				for _, d := range dashRunes {
					next = append(next, append(append(Pattern(nil), v...), Token{Kind: TokLiteral, Lit: string(d)}))
				}
			}
			variants = next
		}
		out = append(out, variants...)
	}
	return out, nil
}

// EncodeUTF16 encodes s for the modifier mod: utf16le and wide
// little-endian, utf16be big-endian, utf16 little-endian after a byte-order
// mark (FF FE).
func EncodeUTF16(s, mod string) string {
	u := utf16.Encode([]rune(s))
	var b []byte
	if mod == "utf16" {
		b = append(b, 0xFF, 0xFE)
	}
	for _, c := range u {
		if mod == "utf16be" {
			b = binary.BigEndian.AppendUint16(b, c)
		} else {
			b = binary.LittleEndian.AppendUint16(b, c)
		}
	}
	return string(b)
}

// Base64Offsets returns the three base64 forms of s as it may appear at
// any offset inside a longer base64-encoded text (the base64offset
// modifier): s encoded after 0, 1 and 2 bytes of padding, with the
// characters that depend on the neighbouring bytes cut off.
func Base64Offsets(s string) []string {
	start := []int{0, 2, 3}
	end := []int{0, -3, -2}
	out := make([]string, 0, 3)
	for i := 0; i < 3; i++ {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, i), s...))
		n := (len(s) + i) % 3
		e := len(enc)
		if n != 0 {
			e += end[n]
		}
		b := start[i]
		if b > e {
			b = e
		}
		out = append(out, enc[b:e])
	}
	return out
}

// IsEncoding reports whether a modifier encodes the value into bytes
// (utf16le, wide, utf16be, utf16, base64, base64offset).
func IsEncoding(name string) bool {
	switch name {
	case "utf16le", "wide", "utf16be", "utf16", "base64", "base64offset":
		return true
	}
	return false
}

// EncodeValue applies windash and the encodings of mods to the
// alternatives of one value, in the order the modifiers are written, and
// returns the resulting alternatives (base64offset makes three of each).
// windash leaves dash classes (TokDash) in the patterns; before an
// encoding, which needs plain text, they are spelt out into every
// combination of dashes (at most MaxDashVariants). An encoding cannot
// encode a wildcard. Other modifiers are ignored; errors point at the
// modifier.
func EncodeValue(cur []Pattern, mods []Modifier) ([]Pattern, error) {
	for _, m := range mods {
		if IsEncoding(m.Name) {
			var err error
			if cur, err = ExpandDashes(cur, MaxDashVariants); err != nil {
				return nil, Errorf(m.Pos, "windash gives more than %d dash combinations to encode; use fewer dashes", MaxDashVariants)
			}
			for _, p := range cur {
				if p.HasWildcards() {
					return nil, Errorf(m.Pos, "modifier %q cannot encode a value with wildcards", m.Name)
				}
			}
		}
		switch m.Name {
		case "windash":
			for i := range cur {
				cur[i] = cur[i].Windash()
			}
		case "utf16le", "wide", "utf16be", "utf16":
			for i, p := range cur {
				cur[i] = Pattern{{Kind: TokLiteral, Lit: EncodeUTF16(p.Plain(), m.Name)}}
			}
		case "base64":
			for i, p := range cur {
				cur[i] = Pattern{{Kind: TokLiteral, Lit: base64.StdEncoding.EncodeToString([]byte(p.Plain()))}}
			}
		case "base64offset":
			next := make([]Pattern, 0, 3*len(cur))
			for _, p := range cur {
				for _, o := range Base64Offsets(p.Plain()) {
					next = append(next, Pattern{{Kind: TokLiteral, Lit: o}})
				}
			}
			cur = next
		}
	}
	return cur, nil
}
