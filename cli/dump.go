package cli

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/source"
	"github.com/vigil-detect/vigil/source/evtx"
	"github.com/vigil-detect/vigil/source/jsonl"
)

func newDumpCmd(env *Env) *cobra.Command {
	var mappings []string
	var quiet bool
	var workers int
	var cpuprof string
	cmd := &cobra.Command{
		Use:   "dump FILE...",
		Short: "Print events as rules see them, one JSON object per line",
		Long: `Read EVTX or JSON event files and print each event as one JSON object per
line: the normalized fields vigil matches rules against (after flattening
and field mapping), plus "source" (path and line or record id) and
"timestamp". Unreadable records are reported on standard error with their
location; the rest is printed.`,
		Example: `  vigil dump Security.evtx | head
  vigil dump --mapping my-fields.yml export.json.gz`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tbl, err := mapping.Load(mappings...)
			if err != nil {
				return usageErr("%v", err)
			}
			schema := event.NewSchema(tbl.Fields().Names())
			norm, err := mapping.NewNormalizer(tbl.Fields(), tbl, schema)
			if err != nil {
				return usageErr("%v", err)
			}
			stopProfile, err := startCPUProfile(cpuprof)
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			defer stopProfile()
			bw := bufio.NewWriterSize(env.Stdout, 256<<10)
			defer bw.Flush()
			d := &dumper{w: bw, norm: norm, schema: schema, env: env, quiet: quiet, workers: workers}
			var failed error
			fail := func(err error) {
				fmt.Fprintf(env.Stderr, "vigil: %v\n", err)
				failed = err
			}
			run := d.start()
			go run.files(args)
			werr := run.drain(fail)
			if werr == nil {
				werr = bw.Flush()
			}
			if werr != nil {
				return &exitError{ExitFailure, werr}
			}
			if !quiet {
				fmt.Fprintf(env.Stderr, "vigil: %d events, %d unreadable records\n", d.events, d.problems)
			}
			if failed != nil {
				return &exitError{ExitFailure, fmt.Errorf("some inputs could not be read")}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&mappings, "mapping", nil, "extra log-source and field mapping file (repeatable)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no summary or problems on standard error")
	cmd.Flags().IntVar(&workers, "workers", 0, "decoding and encoding goroutines (default: number of CPUs)")
	cmd.Flags().StringVar(&cpuprof, "cpuprofile", "", "write a CPU profile of the run to this file")
	_ = cmd.Flags().MarkHidden("cpuprofile")
	return cmd
}

// dumper prints events in input order, decoding, normalizing and encoding
// them on every core: the reading goroutine (the EVTX reader parses chunks
// on every core itself) hands batches of records to the workers, and the
// batches are written in the order they were read. Memory is bounded by
// the batches in flight, whatever the file size: EVTX files are read in
// place, never loaded whole.
type dumper struct {
	w        *bufio.Writer
	norm     *mapping.Normalizer
	schema   *event.Schema
	env      *Env
	quiet    bool
	events   int64
	problems int64
	workers  int
}

// dumpBatch is a run of records of one input, and what became of them.
type dumpBatch struct {
	path     string
	recs     []dumpRecord // EVTX records
	buf      []byte       // JSON records, end to end
	ends     []int
	lines    []int64
	out      []byte
	problems []*source.Problem
	events   int64
	err      error // the input failed (unreadable, or an event could not be encoded): the rest of it is not printed
	done     chan struct{}
}

type dumpRecord struct {
	id     uint64
	fields []evtx.Field
}

const dumpBatchRecords = 256

// dumpRun is the pipeline of one dump invocation.
type dumpRun struct {
	d     *dumper
	work  chan *dumpBatch
	order chan *dumpBatch
	wg    sync.WaitGroup
	// stop is set once output cannot be written (`vigil dump | head`):
	// reading stops at the next batch.
	stop atomic.Bool
}

func (d *dumper) start() *dumpRun {
	workers := d.workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	r := &dumpRun{d: d, work: make(chan *dumpBatch, workers*2), order: make(chan *dumpBatch, workers*4)}
	for range workers {
		r.wg.Go(func() {
			ev := event.New(d.schema)
			var dec jsonl.Decoder
			var enc alert.EventEncoder
			for b := range r.work {
				d.encode(b, ev, &dec, &enc)
				close(b.done)
			}
		})
	}
	return r
}

// send queues a batch for encoding and writing.
func (r *dumpRun) send(b *dumpBatch) {
	b.done = make(chan struct{})
	r.order <- b
	r.work <- b
}

// files reads every input in turn, then ends the pipeline; an input that
// cannot be read (or stops being readable) ends with a batch holding the
// error.
func (r *dumpRun) files(paths []string) {
	defer func() {
		close(r.work)
		close(r.order)
	}()
	for _, path := range paths {
		if r.stop.Load() {
			return
		}
		if err := r.file(path); err != nil {
			b := &dumpBatch{path: path, err: err}
			r.send(b)
		}
	}
}

// drain writes the batches in order; it returns the first write error.
func (r *dumpRun) drain(fail func(error)) error {
	var werr error
	failed := ""
	for b := range r.order {
		<-b.done
		for _, p := range b.problems {
			r.d.problem(p)
		}
		if failed != "" && b.path == failed {
			continue
		}
		failed = ""
		r.d.events += b.events
		if werr == nil {
			if _, werr = r.d.w.Write(b.out); werr != nil {
				r.stop.Store(true)
			}
		}
		if b.err != nil {
			// The events before the failure are printed, the rest of the
			// input is not.
			fail(b.err)
			failed = b.path
		}
	}
	r.wg.Wait()
	return werr
}

func (d *dumper) problem(p *source.Problem) {
	d.problems++
	if !d.quiet {
		fmt.Fprintf(d.env.Stderr, "skipped: %v\n", p)
	}
}

func (r *dumpRun) file(path string) error {
	var in io.Reader
	name := path
	var f *os.File
	if path == "-" {
		in, name = r.d.env.Stdin, "<stdin>"
	} else {
		var err error
		if f, err = os.Open(path); err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	br := bufio.NewReaderSize(in, 64<<10)
	compressed := false
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
		compressed = true
	}
	if head, _ := br.Peek(8); string(head) == "ElfFile\x00" {
		var ra io.ReaderAt = f
		var size int64
		if f != nil && !compressed {
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			size = st.Size()
		} else {
			// EVTX needs random access: spool standard input or a
			// decompressed file to a temporary file rather than memory.
			tmp, err := os.CreateTemp("", "vigil-dump-*.evtx")
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			defer os.Remove(tmp.Name())
			defer tmp.Close()
			if size, err = io.Copy(tmp, br); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			ra = tmp
		}
		return r.evtx(name, ra, size)
	}
	return r.jsonl(name, br)
}

func (r *dumpRun) evtx(name string, ra io.ReaderAt, size int64) error {
	var pending []*source.Problem
	rd, err := evtx.NewReader(ra, size, evtx.Options{
		Name: name,
		Warn: func(w evtx.Warning) {
			pending = append(pending, &source.Problem{Path: name, Offset: w.Offset, Msg: fmt.Sprintf("chunk %d: %s", w.Chunk, w.Msg)})
		},
	})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer rd.Close()
	b := &dumpBatch{path: name, recs: []dumpRecord{}}
	flush := func() {
		b.problems, pending = pending, nil
		r.send(b)
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			flush()
			return nil
		}
		if err != nil {
			flush()
			return fmt.Errorf("%s: %w", name, err)
		}
		b.recs = append(b.recs, dumpRecord{id: rec.ID, fields: append([]evtx.Field(nil), rec.Fields...)})
		if len(b.recs) >= dumpBatchRecords {
			flush()
			if r.stop.Load() {
				return nil
			}
			b = &dumpBatch{path: name, recs: make([]dumpRecord, 0, dumpBatchRecords)}
		}
	}
}

func (r *dumpRun) jsonl(name string, in io.Reader) error {
	var pending []*source.Problem
	jr := jsonl.NewReader(in, name, func(p *source.Problem) { pending = append(pending, p) })
	b := &dumpBatch{path: name}
	flush := func() {
		b.problems, pending = pending, nil
		r.send(b)
	}
	for {
		rec, n, err := jr.ReadRecord()
		if err == io.EOF {
			flush()
			return nil
		}
		if err != nil {
			flush()
			return err
		}
		b.buf = append(b.buf, rec...)
		b.ends = append(b.ends, len(b.buf))
		b.lines = append(b.lines, n)
		if len(b.ends) >= dumpBatchRecords || len(b.buf) >= 4<<20 {
			flush()
			if r.stop.Load() {
				return nil
			}
			b = &dumpBatch{path: name}
		}
	}
}

// encode decodes, normalizes and prints the batch's records into b.out.
func (d *dumper) encode(b *dumpBatch, ev *event.Event, dec *jsonl.Decoder, enc *alert.EventEncoder) {
	if b.err != nil {
		return // an input's failure, nothing to encode
	}
	for _, rec := range b.recs {
		hunt.RecordEvent(ev, b.path, rec.id, rec.fields)
		if b.print(d.norm, ev, enc) != nil {
			return
		}
	}
	start := 0
	for k, end := range b.ends {
		line := b.buf[start:end]
		start = end
		if err := jsonl.DecodeEvent(dec, line, ev); err != nil {
			b.problems = append(b.problems, &source.Problem{Path: b.path, Line: b.lines[k], Msg: err.Error(), Err: err})
			continue
		}
		ev.Source = event.Source{Path: b.path, Line: b.lines[k]}
		if b.print(d.norm, ev, enc) != nil {
			return
		}
	}
}

// print appends one event as a JSON object on its own line: its
// normalized fields, "source" and "timestamp" (the bytes encoding/json
// writes for the map event.Event.Map gives with those two added).
func (b *dumpBatch) print(norm *mapping.Normalizer, ev *event.Event, enc *alert.EventEncoder) error {
	norm.Apply(ev)
	entries := [2]alert.Entry{{Key: "source", Value: ev.Source}}
	n := 1
	if !ev.Time.IsZero() {
		entries[1] = alert.Entry{Key: "timestamp", Value: ev.Time.Format(time.RFC3339Nano)}
		n = 2
	}
	out, err := enc.Append(b.out, ev, entries[:n]...)
	if err != nil {
		b.err = fmt.Errorf("%s: %w", b.path, err)
		return b.err
	}
	b.out = append(out, '\n')
	b.events++
	return nil
}
