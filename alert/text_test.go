package alert

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostile are values an attacker can put in an event field, a host name
// or a rule title.
var hostile = []string{
	"\x1b]0;owned\x07\x1b[2J\x1b[31mred",     // retitle, clear, colour
	"evil\r\nvigil: alerts: none",            // a forged line
	"\u202egpj.exe",                          // right-to-left override
	"a\u2066b\u2069c\u200fd\u061c",           // isolates and marks
	"\xc2\x9b31m C1 CSI",                     // C1 control sequence introducer
	"bad \xff\xfe utf-8 \xc3",                // invalid UTF-8
	"line\u2028sep\u2029para",                // Unicode line separators
	"del\x7f nul\x00 bell\x07 bs\x08 vt\x0b", // other C0
}

// safeForTerminal reports what in s could act on a terminal or forge a
// line, or "" when nothing.
func safeForTerminal(s string) string {
	if !utf8.ValidString(s) {
		return "invalid UTF-8"
	}
	for _, r := range s {
		switch {
		case r < 0x20 && r != '\t' && r != '\n', r == 0x7f:
			return "C0 control"
		case r >= 0x80 && r <= 0x9f:
			return "C1 control"
		case isBidiControl(r), r == 0x2028, r == 0x2029:
			return "bidi or separator"
		}
	}
	return ""
}

func TestPrintable(t *testing.T) {
	for _, s := range hostile {
		got := Printable(s)
		if why := safeForTerminal(got); why != "" || strings.Contains(got, "\n") {
			t.Errorf("Printable(%q) = %q: %s", s, got, why)
		}
	}
	if got := Printable("plain\ttext ünïcode"); got != "plain\ttext ünïcode" {
		t.Errorf("printable text changed: %q", got)
	}
	if got := Printable("a\x1b[31mb\nc\u202ed"); got != `a␛[31mb␊c\u202ed` {
		t.Errorf("Printable = %q", got)
	}
	// Random strings of every kind of rune and byte.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		s := string(b) + string(rune(0x2000+rng.IntN(0x100))) + string(rune(rng.IntN(0xa0)))
		if why := safeForTerminal(Printable(s)); why != "" || strings.Contains(Printable(s), "\n") {
			t.Fatalf("Printable(%q) = %q: %s", s, Printable(s), why)
		}
	}
}

// TestTableHostile: hostile text in the host, rule title and details
// reaches the table neither as control sequences nor as extra lines.
func TestTableHostile(t *testing.T) {
	var buf bytes.Buffer
	w := NewTable(&buf, TableOptions{Width: 400})
	for _, s := range hostile {
		a := testAlert("high")
		a.Host, a.Rule.Title = s, s
		a.Events[0].Fields["CommandLine"] = s
		a.Events[0].Fields["Image"] = s
		if err := w.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	if n := strings.Count(out, "\n"); n != len(hostile)+1 {
		t.Errorf("%d lines for %d alerts and the header:\n%s", n, len(hostile), out)
	}
	if why := safeForTerminal(out); why != "" {
		t.Errorf("table output has a %s:\n%q", why, out)
	}
}

// TestCSVHostile: no cell is a spreadsheet formula and the file is valid
// UTF-8, whatever the events hold.
func TestCSVHostile(t *testing.T) {
	formulas := []string{"=HYPERLINK(\"http://x\",\"y\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)", "\t=1", "\r=1"}
	var buf bytes.Buffer
	w := NewCSV(&buf, nil)
	for _, s := range append(formulas, hostile...) {
		a := testAlert("high")
		a.Host, a.Rule.Title = s, s
		a.Events[0].Fields = map[string]any{"Foo": s}
		a.Events[0].Source.Path = s
		if err := w.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(buf.Bytes()) {
		t.Errorf("CSV output is not valid UTF-8")
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[1:] {
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("column %s starts a formula: %q", CSVHeader[i], cell)
			}
		}
	}
	if rows[1][1] != "'"+formulas[0] {
		t.Errorf("host cell %q, want the formula quoted", rows[1][1])
	}
}

// FuzzPrintable: whatever the text, Printable's output is valid UTF-8
// with no control character, bidi control or line break, and the CSV cell
// is valid UTF-8 and never a formula.
func FuzzPrintable(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Add("=1+1")
	f.Fuzz(func(t *testing.T, s string) {
		p := Printable(s)
		if why := safeForTerminal(p); why != "" || strings.Contains(p, "\n") {
			t.Fatalf("Printable(%q) = %q: %s", s, p, why)
		}
		c := SpreadsheetCell(s)
		if !utf8.ValidString(c) || c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			t.Fatalf("SpreadsheetCell(%q) = %q", s, c)
		}
	})
}
