package convert

import (
	"unicode"

	"github.com/vigil-detect/vigil/sigma"
)

// FieldNames returns every field name a prepared rule writes into a
// query: the fields its conditions compare (and reference, fieldref) and
// its output fields. Targets check them once, before writing, against
// what their grammar can quote (see each target's quote.go).
func FieldNames(p *Prepared) []string {
	var out []string
	Walk(p.Tree, func(c *Cond) {
		if c.Field != "" {
			out = append(out, c.Field)
		}
		if c.Op == OpFieldRef && c.Ref != "" {
			out = append(out, c.Ref)
		}
	})
	return append(out, p.Fields...)
}

// IsBreaking reports whether r is a character no query language takes
// raw inside a quoted literal without changing the query's lines or
// meaning: control characters (C0, DEL, C1 including NEL) and the Unicode
// line and paragraph separators.
func IsBreaking(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// HasBreaking reports whether s holds a character IsBreaking reports.
func HasBreaking(s string) bool {
	for _, r := range s {
		if IsBreaking(r) {
			return true
		}
	}
	return false
}

// CorrFieldNames returns the field names a correlation writes besides
// its rules' own: the value field, the group-by fields and the aliased
// fields.
func CorrFieldNames(c *sigma.Correlation) []string {
	var out []string
	if c.Field != "" {
		out = append(out, c.Field)
	}
	out = append(out, c.GroupBy...)
	for alias, m := range c.Aliases {
		out = append(out, alias)
		for _, f := range m {
			out = append(out, f)
		}
	}
	return out
}

// CheckNames refuses, for target, a rule (and, when c is not nil, a
// correlation) with a field name holding a character IsBreaking
// reports: no target's field-name quoting can hold a line break, and no
// real field has one.
func CheckNames(target string, p *Prepared, c *sigma.Correlation) error {
	if p != nil {
		for _, f := range FieldNames(p) {
			if HasBreaking(f) {
				return Unsupported(p.Rule.Pos, target, "field name %q holds a control or line-breaking character, which the query language cannot quote", f)
			}
		}
	}
	if c != nil {
		for _, f := range CorrFieldNames(c) {
			if HasBreaking(f) {
				return Unsupported(c.Pos, target, "field name %q holds a control or line-breaking character, which the query language cannot quote", f)
			}
		}
	}
	return nil
}
