package splunk

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/sigma"
)

// This file is the one place the Splunk target quotes: field names in
// searches, eval expressions and table lists, string values, regular
// expressions, and the savedsearches.conf stanza. SPL has no escape for a
// line break in a quoted string, so no rule-supplied text may hold one:
// values with control or line-breaking characters are matched with a
// regular expression (written with \x{…} escapes), field names with them
// are refused, and the conf file's title and description are
// neutralised.

var plainField = regexp.MustCompile(`^[\w.]+$`)

// field writes a field name for a search or stats: as it is when plain,
// else in double quotes with backslash and quote escaped. checkNames has
// refused names with control or line-breaking characters.
func field(f string) string {
	if plainField.MatchString(f) {
		return f
	}
	return quote(f)
}

// evalField writes a field name inside an eval or where expression, where
// field names are single-quoted.
func evalField(f string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(f) + "'"
}

// quote writes a double-quoted SPL string: backslash and quote escaped.
// Values reach it only without control or line-breaking characters
// (needsRegex sends the others to a regular expression); labels that are
// not matched against events (a rule's name as event_type) have such
// characters written as \x{…} text, the same in every place the label is
// written.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case convert.IsBreaking(r):
			fmt.Fprintf(&b, `\x{%x}`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// needsRegex reports whether a pattern cannot be a Splunk quoted value:
// Splunk has no single-character wildcard, no escape for a literal '*',
// and no escape for a line break or other control character.
func needsRegex(p convert.Pattern) bool {
	if p.HasOne() {
		return true
	}
	for _, t := range p {
		if t.Kind == convert.Lit && (strings.Contains(t.Lit, "*") || convert.HasBreaking(t.Lit)) {
			return true
		}
	}
	return false
}

// regexBody writes a regular expression (Go syntax, which Splunk's PCRE
// reads the same for what vigil writes) for the inside of a double-quoted
// SPL string. The expression is copied escape pair by escape pair, so SPL
// reads the same pairs back: an unescaped quote becomes \" (the string
// cannot end early, as it would if the quote of an existing \" were
// escaped again), and control and line-breaking characters, escaped or
// not, become \x{…}.
func regexBody(re string) string {
	var b strings.Builder
	for i := 0; i < len(re); {
		r, n := utf8.DecodeRuneInString(re[i:])
		if r == '\\' && i+n < len(re) {
			next, m := utf8.DecodeRuneInString(re[i+n:])
			if convert.IsBreaking(next) {
				fmt.Fprintf(&b, `\x{%x}`, next)
			} else {
				b.WriteByte('\\')
				b.WriteRune(next)
			}
			i += n + m
			continue
		}
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case convert.IsBreaking(r):
			fmt.Fprintf(&b, `\x{%x}`, r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}

// tableName matches the field names "| table" takes: plain names as they
// are, and names with spaces or a few punctuation characters quoted.
// Anything else (quotes, backslashes, pipes, brackets, commas, wildcards,
// control characters) is refused: table would read it as another command,
// another field list or a wildcard.
var tableName = regexp.MustCompile(`^[\w.:@/ -]+$`)

// tableFields writes a rule's output fields for "| table".
func tableFields(p *convert.Prepared) (string, error) {
	out := make([]string, len(p.Fields))
	for i, f := range p.Fields {
		if !tableName.MatchString(f) || strings.TrimSpace(f) != f {
			return "", convert.Unsupported(p.Rule.Pos, "splunk", "field %q in fields: not a plain field name (letters, digits, _ . : @ / - and inner spaces); it cannot be listed after | table", f)
		}
		out[i] = field(f)
	}
	return strings.Join(out, ","), nil
}

// checkNames refuses a rule whose field names hold control or
// line-breaking characters: SPL cannot quote them.
func checkNames(p *convert.Prepared) error { return convert.CheckNames("splunk", p, nil) }

// checkCorrNames refuses a correlation whose group-by, aliased or value
// fields hold control or line-breaking characters.
func checkCorrNames(c *sigma.Correlation) error { return convert.CheckNames("splunk", nil, c) }

// stanzaTitle writes a title as a savedsearches.conf stanza name: on one
// line (control and line-breaking characters become spaces) and without
// brackets (written as parentheses), so it cannot end the header early
// or start another stanza or setting.
func stanzaTitle(t string) string {
	t = strings.Map(func(r rune) rune {
		switch {
		case convert.IsBreaking(r):
			return ' '
		case r == '[':
			return '('
		case r == ']':
			return ')'
		}
		return r
	}, t)
	t = strings.TrimSpace(t)
	if t == "" {
		return "untitled"
	}
	return t
}

// confValue writes a savedsearches.conf setting's value: lines joined by
// the conf format's continuation (a backslash ending the line), other
// control and line-breaking characters as spaces, and a space after a
// backslash that ends the value, which would otherwise continue it into
// the next setting.
func confValue(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		if r != '\n' && convert.IsBreaking(r) {
			return ' '
		}
		return r
	}, s)
	if strings.HasSuffix(s, `\`) {
		s += " "
	}
	return strings.ReplaceAll(s, "\n", " \\\n")
}

// noBlankLines removes the empty lines of a query: vigil separates
// queries with a blank line, so none may hold one (pySigma writes one
// before a correlation's condition; SPL ignores it).
func noBlankLines(q string) string {
	for strings.Contains(q, "\n\n") {
		q = strings.ReplaceAll(q, "\n\n", "\n")
	}
	return strings.TrimPrefix(q, "\n")
}
