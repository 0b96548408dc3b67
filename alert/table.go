package alert

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// TableOptions configure a Table writer.
type TableOptions struct {
	// Color colours each line's level and rule by level (ANSI escapes).
	Color bool
	// Location is the time zone timestamps are shown in; nil is UTC.
	Location *time.Location
	// Width is the line width to fit the details column in; 0 gives the
	// details DefaultDetailWidth runes.
	Width int
}

// DefaultDetailWidth is the width of the details column when the table's
// width is not known.
const DefaultDetailWidth = 120

// Column widths of the table; longer values are elided with "…".
const (
	tableLevelWidth = 8
	tableHostWidth  = 24
	tableRuleWidth  = 56
	tableMinDetails = 30
)

// TableTimeFormat is the time layout of the table and CSV outputs.
const TableTimeFormat = "2006-01-02 15:04:05.000Z07:00"

// Table writes one aligned line per alert for a person to read: time,
// level, host, rule title and details.
type Table struct {
	w      io.Writer
	opts   TableOptions
	header bool
	err    error
}

// NewTable returns a table writer on w.
func NewTable(w io.Writer, opts TableOptions) *Table {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	return &Table{w: w, opts: opts}
}

var levelColors = map[string]string{
	"critical":      "\x1b[1;35m",
	"high":          "\x1b[1;31m",
	"medium":        "\x1b[33m",
	"low":           "\x1b[32m",
	"informational": "\x1b[2m",
}

// shortLevel is the level as the table shows it.
func shortLevel(l string) string {
	switch l {
	case "informational":
		return "info"
	case "":
		return "-"
	}
	return l
}

func pad(s string, width int) string {
	s = Elide(s, width)
	if n := utf8.RuneCountInString(s); n < width {
		s += strings.Repeat(" ", width-n)
	}
	return s
}

// timeWidth is 24 for UTC times (2006-01-02 15:04:05.000Z), 29 with an
// offset (2006-01-02 15:04:05.000+07:00).
func (t *Table) timeWidth() int {
	if t.opts.Location == time.UTC {
		return 24
	}
	return 29
}

func (t *Table) detailWidth() int {
	if t.opts.Width <= 0 {
		return DefaultDetailWidth
	}
	w := t.opts.Width - (t.timeWidth() + tableLevelWidth + tableHostWidth + tableRuleWidth + 8)
	if w < tableMinDetails {
		w = tableMinDetails
	}
	return w
}

// FormatTime formats an alert time in loc for the table output;
// "" for no time.
func FormatTime(t *time.Time, loc *time.Location) string {
	if t == nil || t.IsZero() {
		return ""
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(TableTimeFormat)
}

// Write writes one alert line, after the header line for the first.
func (t *Table) Write(a *Alert) error {
	if t.err != nil {
		return t.err
	}
	var b strings.Builder
	if !t.header {
		t.header = true
		fmt.Fprintf(&b, "%s  %s  %s  %s  %s\n", pad("TIME", t.timeWidth()), pad("LEVEL", tableLevelWidth),
			pad("HOST", tableHostWidth), pad("RULE", tableRuleWidth), "DETAILS")
	}
	// Everything shown comes from logs and rules: Printable keeps control
	// sequences in them from reaching the terminal.
	level, rule := pad(Printable(shortLevel(a.Rule.Level)), tableLevelWidth), pad(Printable(a.Rule.Title), tableRuleWidth)
	if c := levelColors[a.Rule.Level]; t.opts.Color && c != "" {
		level, rule = c+level+"\x1b[0m", c+rule+"\x1b[0m"
	}
	host := Printable(a.Host)
	if host == "" {
		host = "-"
	}
	fmt.Fprintf(&b, "%s  %s  %s  %s  %s\n", pad(FormatTime(a.Timestamp, t.opts.Location), t.timeWidth()), level,
		pad(host, tableHostWidth), rule, Elide(Printable(Details(a, 0)), t.detailWidth()))
	_, t.err = io.WriteString(t.w, b.String())
	return t.err
}

// Close does nothing: every line is written when it comes.
func (t *Table) Close() error { return t.err }
