package hunt

import (
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// Stream matches events one at a time, for a service that reads them from
// a stream instead of files: it is Run's worker (the same decoding,
// normalization, From/To filter, matching, context rules and correlation
// feed), without the file reading and without the correlation stage, which
// the caller runs on event time (correlate.Reorderer and Processor).
//
// A Stream is not safe for concurrent use: use one per goroutine. The
// engine and the Options it is given are shared and not modified.
type Stream struct {
	w    *worker
	b    batch
	corr []correlate.Match
}

// NewStream returns a Stream matching with eng as Run would with opts.
// Workers, Stdin, Progress, Problem, Correlations' stage options
// (MaxGroups, Enrich) are ignored; Correlations still decides which
// matches are returned for correlation and which are suppressed.
func NewStream(eng *engine.Engine, opts Options) *Stream {
	w := newWorker(eng, opts)
	w.context = contextRules(eng, opts)
	return &Stream{w: w}
}

// Result is what one event produced. Its slices are reused by the next
// call of the Stream; the alerts they point to are not.
type Result struct {
	// Alerts are the detection alerts to write, as Run writes them (rules
	// that only feed correlations are left out).
	Alerts []*alert.Alert
	// Correlate are the matches of rules that correlations read, with
	// Seq set to the seq given to Line.
	Correlate []correlate.Match
	// Skipped is true when the event was outside Options.From/To.
	Skipped bool
	// Time is the event's time (zero when it had none).
	Time time.Time
}

// Line decodes one JSON object (one line of JSON Lines, as jsonl.Reader
// returns records) located at src, and matches it. seq orders the event's
// correlation matches among equal timestamps (Run uses input order). An
// error is a record that is not a JSON object, or a matching error; with
// the latter the result still holds what matched.
func (s *Stream) Line(line []byte, src event.Source, seq uint64) (Result, error) {
	s.reset()
	if err := jsonl.DecodeEvent(&s.w.dec, line, s.w.ev); err != nil {
		return Result{}, err
	}
	s.w.ev.Source = src
	return s.match(s.w.ev, seq)
}

// Event matches an event already decoded (its Source and Time set); e is
// normalized in place.
func (s *Stream) Event(e *event.Event, seq uint64) (Result, error) {
	s.reset()
	return s.match(e, seq)
}

func (s *Stream) reset() {
	b := &s.b
	b.alerts, b.corr, b.problems = b.alerts[:0], b.corr[:0], b.problems[:0]
	b.events, b.skipped = 0, 0
}

func (s *Stream) match(e *event.Event, seq uint64) (Result, error) {
	b := &s.b
	s.w.process(b, e)
	r := Result{Alerts: b.alerts, Skipped: b.skipped > 0, Time: e.Time}
	s.corr = s.corr[:0]
	for _, cm := range b.corr {
		s.corr = append(s.corr, correlate.MatchFromAlert(cm.rule, cm.alert, seq))
	}
	r.Correlate = s.corr
	if len(b.problems) > 0 {
		return r, b.problems[0]
	}
	return r, nil
}
