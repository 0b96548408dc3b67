package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/internal/corpus"
)

// alertStreamCases are the corpus trees hunted by TestCorpusAlertStreams,
// each with every SigmaHQ Windows rule, in the two JSON formats.
var alertStreamCases = []struct{ name, tree string }{
	{"evtx-attack-samples", "evtx-attack-samples"},
	{"hayabusa-sample-evtx", "hayabusa-sample-evtx"},
	{"otrf", "otrf"},
}

// TestCorpusAlertStreams pins the exact bytes of the alerts `vigil hunt`
// writes over the whole EVTX and JSON corpus: the count and SHA-256 of
// the JSON Lines and JSON array outputs of each tree are compared with
// testdata/golden/corpus-alerts.txt. The file was written by the code
// before the hot path was optimised (a hand-written alert encoder,
// batched writes, a faster matcher), so a change in any alert, in its
// encoding or in their order fails here; -update rewrites it once a
// change is intended.
func TestCorpusAlertStreams(t *testing.T) {
	g := openStreamGolden(t, "corpus-alerts.txt", "CorpusAlertStreams")
	for _, c := range alertStreamCases {
		for _, format := range []string{"jsonl", "json"} {
			args := []string{"hunt", "--quiet", "--workers", "2", "--format", format, "--rules", "sigma/rules/windows", c.tree}
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), args, Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
			if code != ExitOK {
				t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
			}
			n := bytes.Count(stdout.Bytes(), []byte("\n{\"rule\":"))
			if format == "jsonl" {
				n = bytes.Count(stdout.Bytes(), []byte("\n"))
			}
			g.check(t, c.name+" "+format, n, stdout.Bytes())
		}
	}
	g.close(t)
}

// TestCorpusDumpStreams pins the bytes `vigil dump` writes for every EVTX
// file of the corpus and the OTRF JSON: the event count and SHA-256 of
// standard output per tree, in testdata/golden/corpus-dump.txt, written
// by the single-threaded dump with encoding/json before dump was made
// parallel. Order and encoding must not change.
func TestCorpusDumpStreams(t *testing.T) {
	g := openStreamGolden(t, "corpus-dump.txt", "CorpusDumpStreams")
	for _, c := range alertStreamCases {
		var files []string
		err := filepath.WalkDir(c.tree, func(p string, de os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := strings.ToLower(filepath.Ext(p)); !de.IsDir() && (ext == ".evtx" || ext == ".json" && strings.Contains(p, "/host/")) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(files)
		var stdout, stderr bytes.Buffer
		args := append([]string{"dump", "--quiet", "--workers", "2"}, files...)
		Main(context.Background(), args, Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
		g.check(t, c.name, bytes.Count(stdout.Bytes(), []byte("\n")), stdout.Bytes())
	}
	g.close(t)
}

// streamGolden is a golden file of output streams: one line per stream,
// its key, then its count and SHA-256. check compares a stream with the
// file (or, with -update, records it; close then rewrites the file).
type streamGolden struct {
	path string
	want map[string]string
	out  strings.Builder
}

// openStreamGolden reads testdata/golden/<name> (not with -update) and
// returns it with the corpus root, the working directory the streams are
// made in (the test changes to it).
func openStreamGolden(t *testing.T, name, test string) *streamGolden {
	t.Helper()
	rules := corpus.Require(t, "sigma", "rules", "windows")
	path, err := filepath.Abs(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	g := &streamGolden{path: path, want: map[string]string{}}
	if !*updateGolden {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./cli -run %s -update creates it)", err, test)
		}
		for l := range strings.SplitSeq(string(data), "\n") {
			if f := strings.Fields(l); len(f) >= 3 {
				g.want[strings.Join(f[:len(f)-2], " ")] = f[len(f)-2] + " " + f[len(f)-1]
			}
		}
	}
	for _, c := range alertStreamCases {
		corpus.Require(t, c.tree)
	}
	t.Chdir(filepath.Dir(filepath.Dir(filepath.Dir(rules))))
	return g
}

// check records stream key of n items and compares it with the file.
func (g *streamGolden) check(t *testing.T, key string, n int, stream []byte) {
	t.Helper()
	sum := sha256.Sum256(stream)
	got := fmt.Sprintf("%d %s", n, hex.EncodeToString(sum[:]))
	fmt.Fprintf(&g.out, "%s %s\n", key, got)
	if n == 0 {
		t.Errorf("%s: empty stream", key)
	}
	if !*updateGolden && g.want[key] != got {
		t.Errorf("%s: stream (count sha256) %s, want %s", key, got, g.want[key])
	}
}

// close rewrites the file with -update.
func (g *streamGolden) close(t *testing.T) {
	t.Helper()
	if *updateGolden {
		if err := os.WriteFile(g.path, []byte(g.out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
