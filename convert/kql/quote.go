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

// keywords are the Kusto words that cannot stand as a column name where
// an expression or a table is expected: operators, literals, types and
// the query operators (from the language's grammar, KqlTokens.g4).
var keywords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`and or not in between has has_all has_any has_cs hasprefix hasprefix_cs
		hassuffix hassuffix_cs contains contains_cs containscs notcontains notcontainscs startswith
		startswith_cs endswith endswith_cs like likecs notlike notlikecs matches regex
		true false TRUE FALSE True False null let where project extend summarize by on with of to as
		join union lookup kind typeof datatable print range search find take limit top sort order
		count distinct evaluate invoke parse render sample serialize as database cluster table
		materialize toscalar totable bool boolean int int32 int64 long real double decimal string
		datetime date time timespan guid uuid dynamic`) {
		m[w] = true
	}
	return m
}()

// field writes a column (or table) name: as it is when it is a plain
// identifier that is not a keyword, else as a bracketed name ['…'],
// whose inside is a single-quoted string
// literal with backslash escapes (quote, backslash, and every control or
// line-breaking character escaped, so the name cannot close the bracket
// or break the line).
func field(f string) string {
	if plainField.MatchString(f) && !keywords[f] {
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
