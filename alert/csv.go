package alert

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVHeader is the header row of the CSV timeline.
var CSVHeader = []string{
	"Timestamp", "Computer", "Channel", "EventID", "Level", "RuleTitle", "RuleID",
	"MitreAttack", "Details", "SourcePath", "SourceRecord",
}

// CSVDetailMax caps each value in the CSV details column, in runes.
const CSVDetailMax = 1000

// CSV writes a timeline, one row per alert, that spreadsheets and Timeline
// Explorer open directly (RFC 4180, comma-separated, a header row).
type CSV struct {
	w   *csv.Writer
	loc *time.Location
	n   int
}

// NewCSV returns a CSV timeline writer on w showing times in loc (nil:
// UTC).
func NewCSV(w io.Writer, loc *time.Location) *CSV {
	if loc == nil {
		loc = time.UTC
	}
	return &CSV{w: csv.NewWriter(w), loc: loc}
}

// CSVTime formats an alert time for the CSV timeline so that spreadsheets
// recognise it: "2006-01-02 15:04:05.000" in UTC (the column is UTC by
// default), "2006-01-02 15:04:05.000 -07:00" in any other zone, as
// Hayabusa writes it; "" for no time.
func CSVTime(t *time.Time, loc *time.Location) string {
	if t == nil || t.IsZero() {
		return ""
	}
	if loc == nil || loc == time.UTC {
		return t.UTC().Format("2006-01-02 15:04:05.000")
	}
	return t.In(loc).Format("2006-01-02 15:04:05.000 -07:00")
}

// CSVRecord is the row of an alert. Every cell is a SpreadsheetCell: valid
// UTF-8, and never a formula.
func CSVRecord(a *Alert, loc *time.Location) []string {
	var paths, recs []string
	seen := map[string]bool{}
	for _, e := range a.Events {
		if !seen[e.Source.Path] {
			seen[e.Source.Path] = true
			paths = append(paths, e.Source.Path)
		}
		switch {
		case e.Source.Line > 0:
			recs = append(recs, strconv.FormatInt(e.Source.Line, 10))
		case e.Source.RecordID > 0:
			recs = append(recs, strconv.FormatUint(e.Source.RecordID, 10))
		}
	}
	row := []string{
		CSVTime(a.Timestamp, loc), a.Host, Channel(a), EventID(a), a.Rule.Level, a.Rule.Title, a.Rule.ID,
		strings.Join(AttackTags(a.Rule.Tags), " "), Details(a, CSVDetailMax),
		strings.Join(paths, "; "), strings.Join(recs, "; "),
	}
	for i, v := range row {
		row[i] = SpreadsheetCell(v)
	}
	return row
}

// Write writes one row, after the header row for the first.
func (c *CSV) Write(a *Alert) error {
	if c.n == 0 {
		if err := c.w.Write(CSVHeader); err != nil {
			return err
		}
	}
	c.n++
	if err := c.w.Write(CSVRecord(a, c.loc)); err != nil {
		return err
	}
	return c.w.Error()
}

// Close flushes the rows; with no alert it writes the header row alone.
func (c *CSV) Close() error {
	if c.n == 0 {
		if err := c.w.Write(CSVHeader); err != nil {
			return err
		}
	}
	c.w.Flush()
	return c.w.Error()
}
