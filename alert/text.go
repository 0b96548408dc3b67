package alert

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Printable returns s made safe to show to a person on a terminal: event
// fields, host names, rule titles and file names come from logs and rule
// repositories an attacker may have written, and must not move the
// cursor, recolour, retitle the window, reorder text or start a new line
// that looks like vigil's own.
//
//   - C0 control characters other than tab, and DEL, become their Unicode
//     control pictures (ESC is ␛, a line feed ␊);
//   - C1 control characters (U+0080–U+009F, which some terminals obey as
//     escape sequence introducers), the bidirectional overrides, embeddings
//     and isolates (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C)
//     and the Unicode line and paragraph separators are written as \uXXXX;
//   - bytes that are not UTF-8 become U+FFFD.
//
// Printable text is returned as it is, without copying.
func Printable(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x80 || c < 0x20 && c != '\t' || c == 0x7f {
			break
		}
		i++
	}
	if i == len(s) {
		return s
	}
	// Slow path from the first byte that may need work.
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '\t':
			b.WriteByte('\t')
		case r < 0x20:
			b.WriteRune(0x2400 + r)
		case r == 0x7f:
			b.WriteRune(0x2421)
		case r >= 0x80 && r <= 0x9f, isBidiControl(r), r == 0x2028, r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c
}

// SpreadsheetCell returns a CSV cell value that spreadsheets show as text:
// valid UTF-8 (bytes that are not become U+FFFD), and, when it starts with
// a character that makes Excel, LibreOffice or Google Sheets evaluate it
// as a formula (= + - @, tab or carriage return), prefixed with a single
// quote, as OWASP recommends against CSV injection.
func SpreadsheetCell(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if s != "" {
		switch s[0] {
		case '=', '+', '-', '@', '\t', '\r':
			return "'" + s
		}
	}
	return s
}
