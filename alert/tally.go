package alert

import (
	"errors"
	"sync/atomic"
	"time"
)

// Multi writes each alert to every writer, in order.
type Multi []Writer

// Write writes a to every writer; the first error is returned.
func (m Multi) Write(a *Alert) error {
	for _, w := range m {
		if err := w.Write(a); err != nil {
			return err
		}
	}
	return nil
}

// Close closes every writer and joins their errors.
func (m Multi) Close() error {
	var errs []error
	for _, w := range m {
		errs = append(errs, w.Close())
	}
	return errors.Join(errs...)
}

// RuleCount is the count of one rule's alerts.
type RuleCount struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Level  string `json:"level,omitempty"`
	Type   string `json:"type"`
	Alerts int64  `json:"alerts"`
}

// Tally counts the alerts written to it by level, rule and host, for the
// run summary. Total may be read from another goroutine while alerts are
// written.
type Tally struct {
	total   atomic.Int64
	ByLevel map[string]int64
	ByRule  map[string]*RuleCount
	ByHost  map[string]int64
	// First and Last are the earliest and latest alert times.
	First, Last time.Time
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{ByLevel: map[string]int64{}, ByRule: map[string]*RuleCount{}, ByHost: map[string]int64{}}
}

// Total is the number of alerts written so far.
func (t *Tally) Total() int64 { return t.total.Load() }

// Write counts one alert.
func (t *Tally) Write(a *Alert) error {
	t.total.Add(1)
	t.ByLevel[a.Rule.Level]++
	rc := t.ByRule[a.Rule.ID]
	if rc == nil {
		rc = &RuleCount{ID: a.Rule.ID, Title: a.Rule.Title, Level: a.Rule.Level, Type: a.Rule.Type}
		t.ByRule[a.Rule.ID] = rc
	}
	rc.Alerts++
	host := a.Host
	if host == "" {
		host = "-"
	}
	t.ByHost[host]++
	if a.Timestamp != nil {
		if t.First.IsZero() || a.Timestamp.Before(t.First) {
			t.First = *a.Timestamp
		}
		if a.Timestamp.After(t.Last) {
			t.Last = *a.Timestamp
		}
	}
	return nil
}

// Close does nothing.
func (t *Tally) Close() error { return nil }
