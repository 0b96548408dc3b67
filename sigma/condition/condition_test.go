package condition_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/sigma/condition"
)

// sexpr renders a tree as an S-expression that shows its exact shape
// (unlike String, which relies on precedence), without positions.
func sexpr(n condition.Node) string {
	switch n := n.(type) {
	case *condition.And:
		return "(and " + sexprs(n.Args) + ")"
	case *condition.Or:
		return "(or " + sexprs(n.Args) + ")"
	case *condition.Not:
		return "(not " + sexpr(n.Arg) + ")"
	case *condition.Ident:
		return n.Name
	case *condition.Of:
		q := "1"
		if n.All {
			q = "all"
		}
		return "(" + q + "-of " + n.Pattern + ")"
	case nil:
		return "<nil>"
	}
	return "<?>"
}

func sexprs(ns []condition.Node) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = sexpr(n)
	}
	return strings.Join(parts, " ")
}

func TestParse(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		// Single operands.
		{"selection", "selection"},
		{"  selection\t", "selection"},
		{"(selection)", "selection"},
		{"((((selection))))", "selection"},
		{"sel_1-a.b", "sel_1-a.b"},
		{"sélection", "sélection"},

		// Precedence: or < and < not < "x of" < parentheses.
		{"a or b", "(or a b)"},
		{"a and b", "(and a b)"},
		{"a or b or c", "(or a b c)"},
		{"a and b and c", "(and a b c)"},
		{"a or b and c", "(or a (and b c))"},

		// "any of" as pySigma reads it: "1 of".
		{"a and any of x*", "(and a (1-of x*))"},
		{"ANY of them", "(1-of them)"},
		{"a and b or c", "(or (and a b) c)"},
		{"a and b or c and d", "(or (and a b) (and c d))"},
		{"not a", "(not a)"},
		{"not a and b", "(and (not a) b)"},
		{"not a or b", "(or (not a) b)"},
		{"a and not b", "(and a (not b))"},
		{"a or not b and c", "(or a (and (not b) c))"},
		{"not not a", "(not (not a))"},
		{"not (a or b)", "(not (or a b))"},
		{"(a or b) and c", "(and (or a b) c)"},
		{"a and (b or c)", "(and a (or b c))"},
		{"(a and b) and c", "(and (and a b) c)"},
		{"a or (b or c)", "(or a (or b c))"},
		{"not 1 of filter*", "(not (1-of filter*))"},
		{"1 of sel* and not 1 of filter*", "(and (1-of sel*) (not (1-of filter*)))"},
		{"1 of sel* or all of x*", "(or (1-of sel*) (all-of x*))"},
		{"selection and not (filter1 or filter2)", "(and selection (not (or filter1 filter2)))"},
		{"sel1 and (kw1 or kw2)", "(and sel1 (or kw1 kw2))"},

		// Quantifiers.
		{"1 of them", "(1-of them)"},
		{"all of them", "(all-of them)"},
		{"1 of selection*", "(1-of selection*)"},
		{"all of selection_*", "(all-of selection_*)"},
		{"1 of *_img", "(1-of *_img)"},
		{"1 of sel*_x*", "(1-of sel*_x*)"},
		{"1 of selection", "(1-of selection)"},
		{"all of *", "(all-of *)"},
		{"(1 of them)", "(1-of them)"},
		{"1 of all", "(1-of all)"},
		{"all of 1", "(all-of 1)"},

		// Keywords are case-insensitive.
		{"a AND b", "(and a b)"},
		{"a And b OR c", "(or (and a b) c)"},
		{"NOT a", "(not a)"},
		{"Not a", "(not a)"},
		{"1 OF THEM", "(1-of them)"},
		{"ALL Of Them", "(all-of them)"},
		{"All of Sel*", "(all-of Sel*)"},

		// Whitespace of all kinds, including newlines of folded scalars.
		{"a\nand\r\nb", "(and a b)"},
		{"(a)and(b)", "(and a b)"},
		{"not(a)", "(not a)"},

		// "1" alone is an identifier.
		{"1", "1"},
		{"1 and b", "(and 1 b)"},
	}
	for _, tt := range tests {
		n, err := condition.Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if got := sexpr(n); got != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.src, got, tt.want)
		}
	}
}

func TestParsePositions(t *testing.T) {
	n, err := condition.Parse("sel and not (f1 or 1 of x*)")
	if err != nil {
		t.Fatal(err)
	}
	and := n.(*condition.And)
	not := and.Args[1].(*condition.Not)
	or := not.Arg.(*condition.Or)
	for _, c := range []struct {
		n    condition.Node
		want int
	}{
		{and, 0}, {and.Args[0], 0}, {not, 8}, {or, 13}, {or.Args[0], 13}, {or.Args[1], 19},
	} {
		if got := c.n.Pos(); got != c.want {
			t.Errorf("%s: Pos() = %d, want %d", c.n, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src    string
		offset int
		msg    string // substring of the message
	}{
		{"", 0, "unexpected end of condition"},
		{"   ", 3, "unexpected end of condition"},
		{"a and", 5, "unexpected end of condition"},
		{"a or", 4, "unexpected end of condition"},
		{"not", 3, "unexpected end of condition"},
		{"a and not", 9, "unexpected end of condition"},
		{"and a", 0, `unexpected "and"`},
		{"or", 0, `unexpected "or"`},
		{"a and or b", 6, `unexpected "or"`},
		{"a b", 2, `unexpected "b"`},
		{"a not b", 2, `unexpected "not"`},
		{"(a", 2, `expected ")" to close "(" at offset 0`},
		{"((a) and b", 10, `expected ")" to close "(" at offset 0`},
		{"a and (b or (c)", 15, `expected ")" to close "(" at offset 6`},
		{"a)", 1, `unexpected ")"`},
		{"(a))", 3, `unexpected ")"`},
		{")", 0, `unexpected ")"`},
		{"()", 1, `unexpected ")"`},
		{"a and ()", 7, `unexpected ")"`},
		{"selection | count() by x > 5", 10, "removed in Sigma v2"},
		{"selection | count(dst) by src > 10", 10, "correlation rule"},
		{"sel1 | near sel2", 5, "removed in Sigma v2"},
		{"a and | count() > 1", 6, "removed in Sigma v2"},
		{"|", 0, "removed in Sigma v2"},
		{"2 of x", 0, `quantifier "2" is not supported`},
		{"a and few of x*", 6, `quantifier "few" is not supported`},
		{"any of (a)", 7, `expected a search-identifier pattern or "them"`},
		{"all", 3, `expected "of" after "all"`},
		{"all x", 4, `expected "of" after "all"`},
		{"1 of", 4, `expected a search-identifier pattern or "them"`},
		{"1 of (a)", 5, `expected a search-identifier pattern or "them"`},
		{"all of and", 7, `expected a search-identifier pattern or "them"`},
		{"them", 0, `unexpected "them"`},
		{"of", 0, `unexpected "of"`},
		{"a & b", 2, "unexpected character '&'"},
		{"a && b", 2, "unexpected character '&'"},
		{"sel = 1", 4, "unexpected character '='"},
		{`"quoted"`, 0, `unexpected character '"'`},
	}
	for _, tt := range tests {
		n, err := condition.Parse(tt.src)
		if err == nil {
			t.Errorf("Parse(%q) = %s, want an error", tt.src, sexpr(n))
			continue
		}
		var ce *condition.Error
		if !errors.As(err, &ce) {
			t.Errorf("Parse(%q): error %v is %T, want *condition.Error", tt.src, err, err)
			continue
		}
		if ce.Offset != tt.offset || !strings.Contains(ce.Msg, tt.msg) {
			t.Errorf("Parse(%q) error = offset %d %q, want offset %d and %q", tt.src, ce.Offset, ce.Msg, tt.offset, tt.msg)
		}
		if ce.Offset < 0 || ce.Offset > len(tt.src) {
			t.Errorf("Parse(%q): offset %d outside the source", tt.src, ce.Offset)
		}
	}
}

// TestRoundTrip checks that String renders a tree that parses back to the
// same tree.
func TestRoundTrip(t *testing.T) {
	for _, src := range []string{
		"a",
		"a and b or c and not d",
		"not (a or b) and c",
		"(a or b) and (c or d) and not (e and f)",
		"a or (b or c)",
		"a and (b and c)",
		"not not a",
		"not 1 of filter* and all of sel_* or 1 of them",
		"ALL OF THEM",
		"1 of all and all of 1",
		"((a and b) or (c and (d or not e)))",
		"1 and not 1",
	} {
		n, err := condition.Parse(src)
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		s := n.String()
		m, err := condition.Parse(s)
		if err != nil {
			t.Errorf("Parse(%q).String() = %q does not parse: %v", src, s, err)
			continue
		}
		if sexpr(m) != sexpr(n) {
			t.Errorf("Parse(%q) = %s, but its String() %q parses to %s", src, sexpr(n), s, sexpr(m))
		}
	}
}

func TestString(t *testing.T) {
	for src, want := range map[string]string{
		"a or b and c":           "a or (b and c)",
		"not (a or b)":           "not (a or b)",
		"not 1 of f*":            "not 1 of f*",
		"ALL of THEM":            "all of them",
		"a AND (b OR c)":         "a and (b or c)",
		"(a and b) and (c or d)": "(a and b) and (c or d)",
	} {
		n, err := condition.Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if got := n.String(); got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", src, got, want)
		}
	}
}

// TestDeepNesting checks that hostile nesting is an error, not a stack
// overflow.
func TestDeepNesting(t *testing.T) {
	const n = 10000
	for name, src := range map[string]string{
		"parens":     strings.Repeat("(", n) + "a" + strings.Repeat(")", n),
		"open":       strings.Repeat("(", n),
		"nots":       strings.Repeat("not ", n) + "a",
		"not-parens": strings.Repeat("not (", n) + "a" + strings.Repeat(")", n),
		"and-parens": strings.Repeat("a and (", n) + "b" + strings.Repeat(")", n),
	} {
		_, err := condition.Parse(src)
		var ce *condition.Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: Parse = %v, want a *condition.Error", name, err)
			continue
		}
		if !strings.Contains(ce.Msg, "nested deeper than") {
			t.Errorf("%s: error %q, want the nesting limit", name, ce.Msg)
		}
	}
	// Nesting up to the limit is fine.
	ok := strings.Repeat("(", condition.MaxDepth) + "a" + strings.Repeat(")", condition.MaxDepth)
	if _, err := condition.Parse(ok); err != nil {
		t.Errorf("%d nested parentheses: %v", condition.MaxDepth, err)
	}
	// Long flat expressions are not nesting.
	flat := "a" + strings.Repeat(" and a", n)
	if n, err := condition.Parse(flat); err != nil {
		t.Errorf("long flat expression: %v", err)
	} else if len(n.(*condition.And).Args) != 10001 {
		t.Errorf("long flat expression has %d operands", len(n.(*condition.And).Args))
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"selection", "selection", true},
		{"selection", "selection1", false},
		{"selection", "Selection", false},
		{"sel*", "selection", true},
		{"sel*", "sel", true},
		{"sel*", "se", false},
		{"sel*", "xsel", false},
		{"*", "", true},
		{"*", "anything", true},
		{"*_img", "sel_img", true},
		{"*_img", "sel_img2", false},
		{"sel*img", "sel_img", true},
		{"sel*img", "selimg", true},
		{"sel*img", "sel_im", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxcyyb", false},
		{"a*b*b", "abb", true},
		{"a*b*b", "ab", false},
		{"ab*ab", "ab", false},
		{"ab*ab", "abab", true},
		{"a*a", "a", false},
		{"**", "x", true},
		{"filter_main_*", "filter_main_x", true},
		{"filter_main_*", "filter_optional_x", false},
	}
	for _, tt := range tests {
		if got := condition.MatchPattern(tt.pattern, tt.name); got != tt.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestIsThem(t *testing.T) {
	for _, src := range []string{"1 of them", "all of THEM", "1 of Them"} {
		n, err := condition.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if !n.(*condition.Of).IsThem() {
			t.Errorf("%q: IsThem() = false", src)
		}
	}
	n, _ := condition.Parse("1 of them*")
	if n.(*condition.Of).IsThem() {
		t.Errorf("1 of them*: IsThem() = true")
	}
}
