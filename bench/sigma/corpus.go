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
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/vigil-detect/vigil/internal/corpus"
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
