package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

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
			bw := bufio.NewWriterSize(env.Stdout, 256<<10)
			defer bw.Flush()
			d := &dumper{w: bw, norm: norm, ev: event.New(schema), env: env, quiet: quiet}
			var failed error
			for _, path := range args {
				if err := d.file(path); err != nil {
					fmt.Fprintf(env.Stderr, "vigil: %v\n", err)
					failed = err
				}
			}
			if err := bw.Flush(); err != nil {
				return &exitError{ExitFailure, err}
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
	return cmd
}

type dumper struct {
	w        *bufio.Writer
	norm     *mapping.Normalizer
	ev       *event.Event
	env      *Env
	quiet    bool
	events   int64
	problems int64
	buf      bytes.Buffer
}

func (d *dumper) problem(p *source.Problem) {
	d.problems++
	if !d.quiet {
		fmt.Fprintf(d.env.Stderr, "skipped: %v\n", p)
	}
}

func (d *dumper) file(path string) error {
	var r io.Reader
	name := path
	if path == "-" {
		r, name = d.env.Stdin, "<stdin>"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	if head, _ := br.Peek(8); string(head) == "ElfFile\x00" {
		data, err := io.ReadAll(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rd, err := evtx.NewReader(bytes.NewReader(data), int64(len(data)), evtx.Options{
			Name: name,
			Warn: func(w evtx.Warning) {
				d.problem(&source.Problem{Path: name, Offset: w.Offset, Msg: fmt.Sprintf("chunk %d: %s", w.Chunk, w.Msg)})
			},
		})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer rd.Close()
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			hunt.RecordEvent(d.ev, name, rec.ID, rec.Fields)
			if err := d.print(); err != nil {
				return err
			}
		}
	}
	jr := jsonl.NewReader(br, name, d.problem)
	for {
		err := jr.Next(d.ev)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := d.print(); err != nil {
			return err
		}
	}
}

func (d *dumper) print() error {
	d.norm.Apply(d.ev)
	d.events++
	m := d.ev.Map()
	m["source"] = d.ev.Source
	if !d.ev.Time.IsZero() {
		m["timestamp"] = d.ev.Time.Format(time.RFC3339Nano)
	}
	d.buf.Reset()
	enc := json.NewEncoder(&d.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return err
	}
	_, err := d.w.Write(d.buf.Bytes())
	return err
}
