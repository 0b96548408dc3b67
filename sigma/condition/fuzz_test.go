package condition_test

import (
	"testing"

	"github.com/vigil-detect/vigil/sigma/condition"
)

// FuzzParse checks that Parse never panics, that errors point inside the
// input, and that whatever parses renders (String) to text that parses
// back to the same tree.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"selection",
		"selection and not filter",
		"1 of selection_* and not 1 of filter_*",
		"all of them",
		"(a or b) and not (c and d)",
		"selection | count() by x > 5",
		"2 of x",
		"((a)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		n, err := condition.Parse(src)
		if err != nil {
			ce, ok := err.(*condition.Error)
			if !ok {
				t.Fatalf("Parse(%q): error %T, want *condition.Error", src, err)
			}
			if ce.Offset < 0 || ce.Offset > len(src) {
				t.Fatalf("Parse(%q): offset %d outside [0, %d]", src, ce.Offset, len(src))
			}
			return
		}
		s := n.String()
		m, err := condition.Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", src, s, err)
		}
		if a, b := sexpr(n), sexpr(m); a != b {
			t.Fatalf("Parse(%q) = %s, but its String() %q parses to %s", src, a, s, b)
		}
	})
}
