package kql

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/vigil-detect/vigil/convert"
)

// This file is the one place the KQL target quotes: column names and
// string literals. Everything a rule supplies (values, field names,
// regular expressions, rule names) reaches the query through field or
// str.

var plainField = regexp.MustCompile(`^[A-Za-z_][\w]*$`)

// field writes a column name: as it is when it is a plain identifier,
// else as a bracketed name ['…'], whose inside is a single-quoted string
// literal with backslash escapes (quote, backslash, and every control or
// line-breaking character escaped, so the name cannot close the bracket
// or break the line).
func field(f string) string {
	if plainField.MatchString(f) {
		return f
	}
	return "['" + escape(f, '\'') + "']"
}

// str writes a string literal. Values without control or line-breaking
// characters are verbatim literals (@"…", only the quote doubled: what
// Windows paths read best as); the others are regular literals "…" with
// backslash escapes, since a verbatim literal cannot hold a line break.
func str(s string) string {
	if !convert.HasBreaking(s) {
		return `@"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return `"` + escape(s, '"') + `"`
}

// escape writes s for the inside of a regular (non-verbatim) Kusto string
// literal delimited by quote: the delimiter and backslash escaped, \t \n
// \r by name, other control and line-breaking characters as \uXXXX (or
// \UXXXXXXXX).
func escape(s string, quote rune) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == quote || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case convert.IsBreaking(r) && r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04x`, r)
		case convert.IsBreaking(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
