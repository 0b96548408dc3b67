package alert

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vigil-detect/vigil/attack"
)

// Time and text helpers shared by the table and CSV writers.

// DetailFields are the event fields shown, in this order, in the details
// of an alert in the table and CSV outputs: what an analyst reads first.
var DetailFields = []string{
	"CommandLine", "Image", "ParentImage", "ParentCommandLine",
	"TargetFilename", "ImageLoaded", "TargetObject", "Details",
	"DestinationIp", "DestinationPort", "DestinationHostname", "QueryName",
	"PipeName", "ServiceName", "ImagePath", "ServiceFileName", "TaskName",
	"ScriptBlockText", "NewProcessName", "ProcessName",
	"TargetUserName", "SubjectUserName", "User", "LogonType", "IpAddress",
	"WorkstationName", "ShareName", "RelativeTargetName", "ObjectName",
	"process.command_line", "process.executable", "process.parent.executable",
	"destination.ip", "destination.port", "user.name", "file.path", "registry.path",
}

// metaFields are not worth showing when an event has none of DetailFields.
var metaFields = map[string]bool{
	"Channel": true, "Computer": true, "EventID": true, "EventRecordID": true,
	"Execution_ProcessID": true, "Execution_ThreadID": true, "Keywords": true,
	"Level": true, "Opcode": true, "Provider_Guid": true, "Provider_Name": true,
	"Task": true, "TimeCreated_SystemTime": true, "Version": true, "@timestamp": true,
	"TimeCreated": true, "UtcTime": true, "Security_UserID": true, "Correlation_ActivityID": true,
}

const maxDetails = 6

// contextFirst are the correlation context keys shown first.
var contextFirst = []string{"count", "value_count", "value_sum", "value_avg", "field", "image", "command_line", "parent_image", "user"}

var spaces = regexp.MustCompile(`\s+`)

// oneLine collapses white space, so that a value fits on one line.
func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n\t") || strings.Contains(s, "  ") {
		s = strings.TrimSpace(spaces.ReplaceAllString(s, " "))
	}
	return s
}

// valueString formats a field value as read.
func valueString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// lastEvent is the event that completed the alert.
func lastEvent(a *Alert) *Event {
	if len(a.Events) == 0 {
		return nil
	}
	return &a.Events[len(a.Events)-1]
}

func field(a *Alert, names ...string) string {
	e := lastEvent(a)
	if e == nil {
		return ""
	}
	for _, n := range names {
		if v, ok := e.Fields[n]; ok {
			if s := valueString(v); s != "" {
				return s
			}
		}
	}
	return ""
}

// Channel is the event log channel of the event that completed the alert.
func Channel(a *Alert) string {
	return field(a, "Channel", "winlog.channel", "channel")
}

// EventID is the Windows event id of the event that completed the alert.
func EventID(a *Alert) string {
	return field(a, "EventID", "winlog.event_id", "event.code", "event_id")
}

// Techniques returns the ATT&CK technique ids of a rule's tags
// (attack.t1059.003 -> T1059.003), in tag order.
func Techniques(tags []string) []string {
	var out []string
	for _, t := range tags {
		if id, ok := techniqueID(t); ok {
			out = append(out, id)
		}
	}
	return out
}

func techniqueID(tag string) (string, bool) {
	return attack.TechniqueID(strings.TrimSpace(tag))
}

// AttackTags returns a rule's ATT&CK tags (attack.*) without the prefix.
func AttackTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		if rest, ok := strings.CutPrefix(strings.ToLower(t), "attack."); ok {
			if id, ok := techniqueID(t); ok {
				rest = id
			}
			out = append(out, rest)
		}
	}
	return out
}

// Details is a one-line digest of an alert: for a detection, the fields of
// its event an analyst reads first (DetailFields, or the first non-meta
// fields); for a correlation, its group and the aggregate that met the
// condition, then its context. Each value is cut to max runes (0: no
// limit). Entries are "Name: value" separated by " ¦ ".
func Details(a *Alert, max int) string {
	var parts []string
	add := func(k, v string) {
		v = oneLine(v)
		if v == "" {
			return
		}
		parts = append(parts, k+": "+Elide(v, max))
	}
	if a.Rule.Type == "correlation" {
		done := map[string]bool{}
		for _, k := range contextFirst {
			if v, ok := a.Context[k]; ok {
				done[k] = true
				add(k, valueString(v))
			}
		}
		for _, k := range sortedKeys(a.Group) {
			add(k, a.Group[k])
		}
		for _, k := range sortedKeys(a.Context) {
			v, ok := a.Context[k]
			if !ok || done[k] {
				continue
			}
			done[k] = true
			switch v := v.(type) {
			case string, bool, int, int64, uint64, float64:
				add(k, valueString(v))
			}
		}
		if d, ok := a.Context["destination"].(map[string]any); ok {
			for _, k := range sortedKeys(d) {
				add("destination."+k, valueString(d[k]))
			}
		}
		return strings.Join(parts, " ¦ ")
	}
	e := lastEvent(a)
	if e == nil {
		return ""
	}
	for _, k := range DetailFields {
		if len(parts) == maxDetails {
			break
		}
		if v, ok := e.Fields[k]; ok {
			add(k, valueString(v))
		}
	}
	if len(parts) == 0 {
		for _, k := range sortedKeys(e.Fields) {
			if len(parts) == maxDetails {
				break
			}
			if !metaFields[k] {
				add(k, valueString(e.Fields[k]))
			}
		}
	}
	return strings.Join(parts, " ¦ ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Elide cuts s to max runes, ending it with "…" when it was cut; max 0
// keeps s whole.
func Elide(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	if max == 1 {
		return "…"
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// Source is where the alert's events were read: path:line or
// path#record, the events separated by "; ".
func Source(a *Alert) string {
	var out []string
	for _, e := range a.Events {
		s := e.Source
		switch {
		case s.Line > 0:
			out = append(out, fmt.Sprintf("%s:%d", s.Path, s.Line))
		case s.RecordID > 0:
			out = append(out, fmt.Sprintf("%s#%d", s.Path, s.RecordID))
		default:
			out = append(out, s.Path)
		}
	}
	return strings.Join(out, "; ")
}
