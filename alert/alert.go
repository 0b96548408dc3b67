// Package alert defines the alert vigil emits when a rule fires, and the
// writers that print alerts in the output formats. The JSON form is the
// contract documented in docs/alerts.md.
package alert

import (
	"encoding/json"
	"io"
	"time"

	"github.com/vigil-detect/vigil/event"
)

// Rule describes the rule that fired.
type Rule struct {
	ID     string   `json:"id"`
	Title  string   `json:"title"`
	Level  string   `json:"level,omitempty"`
	Status string   `json:"status,omitempty"`
	Tags   []string `json:"tags"`
	// Type is "detection" or "correlation".
	Type string `json:"type"`
	// Path is the rule file.
	Path string `json:"path,omitempty"`
}

// Event is one event that contributed to an alert.
type Event struct {
	Source    event.Source   `json:"source"`
	Timestamp *time.Time     `json:"timestamp,omitempty"`
	Fields    map[string]any `json:"fields"`
	// fieldsJSON, when not nil, is the JSON object of the event's fields,
	// encoded by EventEncoder.Event: this package's JSON encoders copy it
	// instead of encoding Fields.
	fieldsJSON []byte
}

// FieldsJSON returns the JSON object of the event's fields when the event
// was built by EventEncoder.Event (the bytes AppendJSON writes for them),
// nil otherwise. The bytes are the event's: callers must not modify them.
func (e *Event) FieldsJSON() []byte { return e.fieldsJSON }

// Alert is one rule firing.
type Alert struct {
	Rule Rule `json:"rule"`
	// Timestamp is the time of the event that completed the match.
	Timestamp *time.Time `json:"timestamp,omitempty"`
	Host      string     `json:"host,omitempty"`
	Events    []Event    `json:"events"`
	// Group and CorrelationType are set on correlation alerts.
	Group           map[string]string `json:"group,omitempty"`
	CorrelationType string            `json:"correlation_type,omitempty"`
	// Context holds what an analyst needs at a glance on correlation
	// alerts: the aggregate that met the condition and, for advisory
	// rules, the process, its parent, the destination and the ancestry.
	Context map[string]any `json:"context,omitempty"`
	// Advisory is the id of the built-in advisory the rule belongs to.
	Advisory string `json:"advisory,omitempty"`
}

// FromEvent builds the event record of an alert from a decoded event.
func FromEvent(e *event.Event) Event { return record(e, e.Map()) }

// record is the event record of e with the given fields map.
func record(e *event.Event, fields map[string]any) Event {
	ae := Event{Source: e.Source, Fields: fields}
	if !e.Time.IsZero() {
		t := e.Time
		ae.Timestamp = &t
	}
	return ae
}

// Writer writes alerts in some format. Write is called from one goroutine
// at a time; Close flushes what is buffered and writes any trailer.
type Writer interface {
	Write(a *Alert) error
	Close() error
}

// JSONLines writes one JSON object per alert per line.
type JSONLines struct {
	w    io.Writer
	buf  []byte
	keys keyCache
}

// NewJSONLines returns a JSON Lines writer on w. Each alert is one Write
// to w: give it a buffered writer.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{w: w} }

// Write writes one alert.
func (j *JSONLines) Write(a *Alert) error {
	b, err := appendAlert(j.buf[:0], a, &j.keys)
	if err != nil {
		return err
	}
	j.buf = append(b, '\n')
	_, err = j.w.Write(j.buf)
	return err
}

// Close does nothing: every alert is written when it comes.
func (j *JSONLines) Close() error { return nil }

// JSONArray writes all alerts as one JSON array.
type JSONArray struct {
	w     io.Writer
	n     int
	err   error
	close bool
}

// NewJSONArray returns a JSON array writer on w.
func NewJSONArray(w io.Writer) *JSONArray { return &JSONArray{w: w} }

// Write writes one alert as an array element.
func (j *JSONArray) Write(a *Alert) error {
	if j.err != nil {
		return j.err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	sep := ",\n"
	if j.n == 0 {
		sep = "[\n"
	}
	j.n++
	if _, err := io.WriteString(j.w, sep); err != nil {
		j.err = err
		return err
	}
	_, j.err = j.w.Write(b)
	return j.err
}

// Close ends the array ("[]" when there were no alerts).
func (j *JSONArray) Close() error {
	if j.err != nil {
		return j.err
	}
	if j.n == 0 {
		_, err := io.WriteString(j.w, "[]\n")
		return err
	}
	_, err := io.WriteString(j.w, "\n]\n")
	return err
}
