package lucene

import (
	"strings"
	"unicode"
)

// This file is the one place the Lucene target escapes: every value and
// field name a rule supplies reaches the query string through Escape.

// special are the characters the query string syntax (Lucene's classic
// query parser as Elasticsearch's query_string extends it) gives a
// meaning: operators, grouping, ranges, fuzziness, boosts, wildcards,
// regular expressions, phrases and the field separator.
const special = `+-=&|!(){}[]^"~*?:\/<>`

// needsEscape reports whether r must be escaped in a term: the special
// characters and every character the parser or an analyzer may take as a
// separator or that changes lines: all Unicode white space (the parser's
// own set is space, \t, \n, \r and U+3000), control characters, line
// and paragraph separators, and format characters (zero-width spaces and
// joiners, bidirectional controls).
func needsEscape(r rune) bool {
	return strings.ContainsRune(special, r) || unicode.IsSpace(r) || unicode.IsControl(r) ||
		unicode.In(r, unicode.Zl, unicode.Zp, unicode.Cf)
}

// Escape escapes a literal (a value or a field name) for a query string:
// a backslash before every character needsEscape reports. The query
// parser takes a backslash followed by any character as that character,
// so the literal stays one term; a line break is written escaped, so no
// value can put an unescaped line (or a blank line, which separates
// queries in vigil's output) into a query. A literal that spells one of
// the parser's operator words (AND, OR, NOT, TO) is escaped too.
func Escape(s string) string {
	var b strings.Builder
	switch s {
	case "AND", "OR", "NOT", "TO":
		// The parser's keywords: a term of its own that spells one is
		// an operator unless a character of it is escaped.
		b.WriteByte('\\')
	}
	for _, r := range s {
		if needsEscape(r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
