// Package hunt runs a compiled rule set over log files: it reads inputs,
// decodes events on every core, matches them, and hands alerts, in input
// order, to an alert writer, keeping counts for the run summary.
package hunt

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/source"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// Options configure a hunt.
type Options struct {
	// Workers is the number of decoding and matching goroutines; 0 means
	// GOMAXPROCS.
	Workers int
	// Problem receives each piece of input that could not be read; nil
	// only counts them.
	Problem func(*source.Problem)
	// From and To, when not zero, keep only events in [From, To].
	From, To time.Time
	// Stdin is read for the input "-".
	Stdin io.Reader
	// Normalizer, when set, adds Sigma-named fields to each event before
	// it is matched (Security 4688/5156 and ECS field mappings).
	Normalizer *mapping.Normalizer
	// Correlations, when not empty, are run over the matches of the rules
	// they reference once every input is read (see docs/correlation.md);
	// their alerts follow the detection alerts, in event-time order.
	Correlations *correlate.Set
	// MaxGroups caps the correlation groups held open (0: the default).
	MaxGroups int
	// Enrich, when set, completes each correlation alert before it is
	// written (the built-in advisories add their context).
	Enrich func(*correlate.Correlation, *alert.Alert)
	// Identity, when set, tells correlations which process instance a
	// match belongs to (correlate.Identity).
	Identity correlate.Identity
	// Context, when set, marks rules whose matches are context, not
	// alerts: each is handed to Observe (from the matching goroutines,
	// concurrently) instead of being alerted.
	Context func(*engine.Rule) bool
	Observe func(*engine.Rule, *event.Event)
	// Progress, when set, counts bytes and events as they are read.
	Progress *Progress
	// Tally, when set, is called once per worker goroutine; the function
	// it returns is called by that worker alone with every event it
	// matches (normalized, within From/To), which it must not keep
	// (package coverage counts log sources per host this way).
	Tally func() func(*event.Event)
	// FieldsJSON, when set, has the matching goroutines encode the fields
	// of each alerting event as JSON (alert.EventEncoder.Event), which the
	// JSON Lines writer copies, and build no Fields map, except for the
	// matches that correlations read. Set it only when the alerts go to
	// readers that do not read Fields (alert.JSONLines, alert.AppendJSON,
	// alert.Tally, alert.AttackLayer): others would find it nil.
	FieldsJSON bool
}

// Stats are the counts of a hunt.
type Stats struct {
	Files    int
	Events   int64
	Skipped  int64 // outside From/To
	Problems int64 // unreadable lines or records
	Alerts   int64
	ByRule   map[string]int64
	ByLevel  map[string]int64
	// FileEvents counts the events read from each input (by its path,
	// "<stdin>" for standard input), inside --from/--to or not.
	FileEvents map[string]int64
	First      time.Time
	Last       time.Time
	Elapsed    time.Duration
	// Correlation counts the correlation stage's work: matches correlated,
	// groups opened, expired and evicted.
	Correlation correlate.Stats
}

const batchLines = 512

type batch struct {
	path     string
	buf      []byte
	ends     []int
	lines    []int64
	alerts   []*alert.Alert
	corr     []corrMatch // matches of rules that correlations read
	problems []*source.Problem
	events   int64
	skipped  int64
	first    time.Time
	last     time.Time
	done     chan struct{}
	recs     []evtxRecord // EVTX records, instead of lines
}

var batchPool = sync.Pool{New: func() any { return &batch{} }}

func getBatch(path string) *batch {
	b := batchPool.Get().(*batch)
	b.path = path
	b.buf, b.ends, b.lines = b.buf[:0], b.ends[:0], b.lines[:0]
	b.alerts, b.corr, b.problems = nil, nil, nil
	b.events, b.skipped = 0, 0
	b.first, b.last = time.Time{}, time.Time{}
	b.recs = nil
	b.done = make(chan struct{})
	return b
}

// Run hunts over the inputs (paths of JSON Lines files, plain or gzipped,
// or "-" for standard input) and writes alerts to out in input order.
func Run(ctx context.Context, eng *engine.Engine, inputs []string, out alert.Writer, opts Options) (Stats, error) {
	start := time.Now()
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	st := Stats{ByRule: map[string]int64{}, ByLevel: map[string]int64{}, FileEvents: map[string]int64{}}
	work := make(chan *batch, opts.Workers*2)
	order := make(chan *batch, opts.Workers*4)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ctxRules := contextRules(eng, opts)
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(eng, opts)
			w.context = ctxRules
			if opts.Tally != nil {
				w.tally = opts.Tally()
			}
			for b := range work {
				w.run(b)
				close(b.done)
			}
		}()
	}

	var readErr error
	go func() {
		defer close(work)
		defer close(order)
		for _, in := range inputs {
			if ctx.Err() != nil {
				return
			}
			if err := produce(ctx, in, opts, work, order); err != nil {
				b := getBatch(in)
				b.problems = append(b.problems, &source.Problem{Path: in, Msg: err.Error(), Err: err})
				order <- b
				close(b.done)
			}
		}
	}()

	var outErr error
	write := func(a *alert.Alert) {
		st.Alerts++
		st.ByRule[a.Rule.ID]++
		st.ByLevel[a.Rule.Level]++
		if outErr == nil {
			if err := out.Write(a); err != nil {
				outErr = err
				cancel()
			}
		}
	}
	var corr *correlator
	if opts.Correlations.Len() > 0 {
		corr = newCorrelator(opts)
	}
	var seq uint64
	for b := range order {
		<-b.done
		for _, p := range b.problems {
			st.Problems++
			if opts.Problem != nil {
				opts.Problem(p)
			}
		}
		st.Events += b.events
		st.Skipped += b.skipped
		st.FileEvents[b.path] += b.events + b.skipped
		opts.Progress.addEvents(b.events + b.skipped)
		if !b.first.IsZero() && (st.First.IsZero() || b.first.Before(st.First)) {
			st.First = b.first
		}
		if b.last.After(st.Last) {
			st.Last = b.last
		}
		for _, a := range b.alerts {
			write(a)
		}
		for _, cm := range b.corr {
			corr.add(correlate.MatchFromAlert(cm.rule, cm.alert, seq))
			seq++
		}
		batchPool.Put(b)
	}
	wg.Wait()
	if corr != nil && outErr == nil && ctx.Err() == nil {
		st.Correlation = corr.finish(write)
	}
	st.Files = len(inputs)
	st.Elapsed = time.Since(start)
	if outErr != nil {
		return st, fmt.Errorf("writing alerts: %w", outErr)
	}
	return st, errors.Join(readErr, ctx.Err())
}

// produce reads one input into batches.
func produce(ctx context.Context, path string, opts Options, work, order chan<- *batch) error {
	var r io.Reader
	// file is set when the input is a regular file, which EVTX reads at
	// random; anything else (standard input, a named pipe, a device) is
	// opened once and streamed.
	var file *os.File
	if path == "-" {
		r = opts.Stdin
		if r == nil {
			r = os.Stdin
		}
		path = "<stdin>"
	} else {
		f, err := openInput(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			file = f
		}
		r = opts.Progress.reader(f)
	}
	br, compressed, err := maybeGzip(r)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if compressed {
		file = nil
	}
	if isEVTX(br) {
		return produceEVTX(ctx, path, br, file, opts, work, order)
	}
	r = br
	var pending []*source.Problem
	jr := jsonl.NewReader(r, path, func(p *source.Problem) { pending = append(pending, p) })
	b := getBatch(path)
	flush := func() {
		b.problems = append(b.problems, pending...)
		pending = nil
		order <- b
		work <- b
	}
	for {
		line, n, err := jr.ReadRecord()
		if err == io.EOF {
			break
		}
		if err != nil {
			flush()
			return err
		}
		b.buf = append(b.buf, line...)
		b.ends = append(b.ends, len(b.buf))
		b.lines = append(b.lines, n)
		if len(b.ends) >= batchLines || len(b.buf) >= 4<<20 {
			flush()
			if ctx.Err() != nil {
				return nil
			}
			b = getBatch(path)
		}
	}
	flush()
	return nil
}

// maybeGzip returns a buffered reader of r's content, decompressed when r
// starts with the gzip magic number (compressed is then true).
func maybeGzip(r io.Reader) (br *bufio.Reader, compressed bool, err error) {
	br = bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(2)
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, true, err
		}
		return bufio.NewReaderSize(zr, 64<<10), true, nil
	}
	return br, false, nil
}

type worker struct {
	eng     *engine.Engine
	opts    Options
	dec     jsonl.Decoder
	ev      *event.Event
	m       *engine.Matcher
	matches []*engine.Rule
	context []bool // by rule index: context rules
	tally   func(*event.Event)
	enc     alert.EventEncoder // with Options.FieldsJSON
}

func newWorker(eng *engine.Engine, opts Options) *worker {
	return &worker{eng: eng, opts: opts, ev: event.New(eng.Schema()), m: eng.NewMatcher()}
}

func (w *worker) run(b *batch) {
	if b.recs != nil {
		w.runRecords(b)
		return
	}
	start := 0
	for k, end := range b.ends {
		line := b.buf[start:end]
		start = end
		if err := jsonl.DecodeEvent(&w.dec, line, w.ev); err != nil {
			b.problems = append(b.problems, &source.Problem{Path: b.path, Line: b.lines[k], Msg: err.Error(), Err: err})
			continue
		}
		w.ev.Source = event.Source{Path: b.path, Line: b.lines[k]}
		w.process(b, w.ev)
	}
}

// process normalizes, filters by time and matches one decoded event.
func (w *worker) process(b *batch, e *event.Event) {
	{
		if w.opts.Normalizer != nil {
			w.opts.Normalizer.Apply(e)
		}
		if !w.opts.From.IsZero() && e.Time.Before(w.opts.From) || !w.opts.To.IsZero() && e.Time.After(w.opts.To) {
			b.skipped++
			return
		}
		b.events++
		if w.tally != nil {
			w.tally(e)
		}
		if !e.Time.IsZero() {
			if b.first.IsZero() || e.Time.Before(b.first) {
				b.first = e.Time
			}
			if e.Time.After(b.last) {
				b.last = e.Time
			}
		}
		var err error
		w.matches, err = w.m.Match(e, w.matches[:0])
		if err != nil {
			b.problems = append(b.problems, &source.Problem{Path: e.Source.Path, Line: e.Source.Line, Msg: err.Error(), Err: err})
		}
		// The alerts of one event share its record and host (read-only
		// once built): building the field map once per event, not per
		// matching rule.
		var rec alert.Event
		var host string
		built := false
		for _, r := range w.matches {
			if w.context != nil && w.context[r.Index] {
				w.opts.Observe(r, e)
				continue
			}
			if !built {
				rec, host, built = w.record(e), strings.Clone(e.Host()), true
			}
			a := newAlert(r, rec, host)
			if set := w.opts.Correlations; set.Feeds(r.Sigma) {
				b.corr = append(b.corr, corrMatch{r.Sigma, a})
				if set.Suppressed(r.Sigma) {
					continue
				}
			}
			b.alerts = append(b.alerts, a)
		}
	}
}

// record builds the alert record of e, whose matches are w.matches.
func (w *worker) record(e *event.Event) alert.Event {
	if !w.opts.FieldsJSON {
		return alert.FromEvent(e)
	}
	fields := false // correlations read the fields of the matches they get
	if set := w.opts.Correlations; set.Len() > 0 {
		for _, r := range w.matches {
			if set.Feeds(r.Sigma) && (w.context == nil || !w.context[r.Index]) {
				fields = true
				break
			}
		}
	}
	return w.enc.Event(e, fields)
}

// NewAlert builds the alert of a detection rule matching an event.
func NewAlert(r *engine.Rule, e *event.Event) *alert.Alert {
	// e's strings alias the decoder's buffers, which the next event
	// overwrites.
	return newAlert(r, alert.FromEvent(e), strings.Clone(e.Host()))
}

// newAlert builds the alert of rule r on an event whose record (which
// owns its strings) and host are ae and host.
func newAlert(r *engine.Rule, ae alert.Event, host string) *alert.Alert {
	s := r.Sigma
	tags := s.Tags
	if tags == nil {
		tags = []string{}
	}
	return &alert.Alert{
		Rule:      alert.Rule{ID: r.ID(), Title: s.Title, Level: s.Level, Status: s.Status, Tags: tags, Type: "detection", Path: s.Pos.File},
		Host:      host,
		Timestamp: ae.Timestamp,
		Events:    []alert.Event{ae},
	}
}
