package event

import (
	"strconv"
	"strings"
	"time"
)

// ParseTime reads the timestamp forms found in Windows logs and their
// exports (RFC 3339, Sysmon's "2006-01-02 15:04:05.000", dates, Unix
// seconds, milliseconds, microseconds or nanoseconds), returning UTC.
func ParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case n > 1e17: // nanoseconds
			return time.Unix(0, n).UTC(), true
		case n > 1e14: // microseconds
			return time.UnixMicro(n).UTC(), true
		case n > 1e11: // milliseconds
			return time.UnixMilli(n).UTC(), true
		default:
			return time.Unix(n, 0).UTC(), true
		}
	}
	return time.Time{}, false
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"01/02/2006 15:04:05",
	"2006-01-02",
}

// Timestamp finds the event's time among its TimeFields.
func (e *Event) Timestamp() (time.Time, bool) {
	for _, name := range TimeFields {
		if v, ok := e.Get(name); ok && v != "" {
			if t, ok := ParseTime(v); ok {
				return t, true
			}
		}
	}
	return time.Time{}, false
}
