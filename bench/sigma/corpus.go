// Package sigmabench compares vigil's Sigma matching with the fastest Go
// peer, github.com/markuskont/go-sigma-rule-engine v0.3.0, on the same
// SigmaHQ Windows rules and the same flat Windows events (the OTRF JSON
// Lines of the shared corpus).
//
// The package holds what the sigmabench command and the Go benchmarks of
// this folder share: finding the corpus, loading both engines, decoding
// events into each engine's input type, timing the matching loops and
// counting matches per rule.
package sigmabench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/source/evtx"
)

// CorpusDir returns the shared corpus folder: $VIGIL_CORPUS, or
// ../shared/corpus beside the repository. It returns "" when neither
// exists.
func CorpusDir() string { return corpus.Dir() }

// DefaultRules returns the SigmaHQ Windows rules folder of the corpus.
func DefaultRules(corpusDir string) string {
	return filepath.Join(corpusDir, "sigma", "rules", "windows")
}

// DefaultEvents returns the glob of the OTRF host JSON Lines files of the
// corpus.
func DefaultEvents(corpusDir string) string {
	return filepath.Join(corpusDir, "otrf", "*", "host", "*.json")
}

// Events are the distinct JSON Lines events the benchmarks replicate.
type Events struct {
	Files []string
	Lines [][]byte // without the line terminator; blank lines left out
	Bytes int64    // sum of the line lengths
}

// LoadEvents reads every non-blank line of the files matching glob, in
// file-name order.
func LoadEvents(glob string) (*Events, error) {
	files, err := filepath.Glob(glob)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no event files match %s", glob)
	}
	sort.Strings(files)
	ev := &Events{Files: files}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			l := bytes.TrimSpace(sc.Bytes())
			if len(l) == 0 {
				continue
			}
			ev.Lines = append(ev.Lines, bytes.Clone(l))
			ev.Bytes += int64(len(l))
		}
		err = sc.Err()
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	if len(ev.Lines) == 0 {
		return nil, fmt.Errorf("no events in %s", glob)
	}
	return ev, nil
}

// WriteReplicated writes n events to path as JSON Lines, cycling through
// the distinct events.
func (ev *Events) WriteReplicated(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := int64(0); i < n; i++ {
		w.Write(ev.Lines[i%int64(len(ev.Lines))])
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// DefaultEVTX returns the EVTX sample folders of the corpus that the
// "evtx" workload flattens.
func DefaultEVTX(corpusDir string) []string {
	return []string{filepath.Join(corpusDir, "evtx-attack-samples"), filepath.Join(corpusDir, "hayabusa-sample-evtx")}
}

// LoadEVTXEvents flattens every record of the .evtx files under the
// folders (in path order) into one flat JSON object per event, the
// record's fields as vigil's EVTX reader names them (EventID, Channel,
// Computer, Image, CommandLine...), no field mapping applied: the form a
// log shipper gives both engines.
func LoadEVTXEvents(dirs []string) (*Events, error) {
	var files []string
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
			if err == nil && !de.IsDir() && strings.EqualFold(filepath.Ext(p), ".evtx") {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .evtx file under %s", strings.Join(dirs, ", "))
	}
	sort.Strings(files)
	ev := &Events{Files: files}
	e := event.New(event.NewSchema(nil))
	for _, f := range files {
		recs, _, err := evtx.ReadAll(f, evtx.Options{})
		if err != nil {
			continue // a sample that is not a readable EVTX file
		}
		for _, r := range recs {
			e.Reset()
			for _, fl := range r.Fields {
				e.Add(fl.Name, fl.Value, event.String)
			}
			l, err := json.Marshal(e.Map())
			if err != nil {
				return nil, fmt.Errorf("%s: record %d: %w", f, r.ID, err)
			}
			ev.Lines = append(ev.Lines, l)
			ev.Bytes += int64(len(l))
		}
	}
	if len(ev.Lines) == 0 {
		return nil, fmt.Errorf("no EVTX record under %s", strings.Join(dirs, ", "))
	}
	return ev, nil
}
