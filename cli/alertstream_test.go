package cli

import (
	"bufio"
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
	rules := corpus.Require(t, "sigma", "rules", "windows")
	root := filepath.Dir(filepath.Dir(filepath.Dir(rules)))
	golden, err := filepath.Abs(filepath.Join("testdata", "golden", "corpus-alerts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	if !*updateGolden {
		data, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test ./cli -run CorpusAlertStreams -update creates it)", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 4 {
				want[f[0]+" "+f[1]] = f[2] + " " + f[3]
			}
		}
	}
	for _, c := range alertStreamCases {
		corpus.Require(t, c.tree)
	}
	t.Chdir(root)
	var out strings.Builder
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
			sum := sha256.Sum256(stdout.Bytes())
			got := fmt.Sprintf("%d %s", n, hex.EncodeToString(sum[:]))
			key := c.name + " " + format
			fmt.Fprintf(&out, "%s %s\n", key, got)
			if n == 0 {
				t.Errorf("%s: no alert", key)
			}
			if !*updateGolden && want[key] != got {
				t.Errorf("%s: alerts (count sha256) %s, want %s", key, got, want[key])
			}
		}
	}
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCorpusDumpStreams pins the bytes `vigil dump` writes for every EVTX
// file of the corpus and the OTRF JSON: the event count and SHA-256 of
// standard output per tree, in testdata/golden/corpus-dump.txt, written
// by the single-threaded dump with encoding/json before dump was made
// parallel. Order and encoding must not change.
func TestCorpusDumpStreams(t *testing.T) {
	rules := corpus.Require(t, "sigma", "rules", "windows")
	root := filepath.Dir(filepath.Dir(filepath.Dir(rules)))
	golden, err := filepath.Abs(filepath.Join("testdata", "golden", "corpus-dump.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	if !*updateGolden {
		data, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test ./cli -run CorpusDumpStreams -update creates it)", err)
		}
		for l := range strings.SplitSeq(string(data), "\n") {
			if f := strings.Fields(l); len(f) == 3 {
				want[f[0]] = f[1] + " " + f[2]
			}
		}
	}
	for _, c := range alertStreamCases {
		corpus.Require(t, c.tree)
	}
	t.Chdir(root)
	var out strings.Builder
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
		n := bytes.Count(stdout.Bytes(), []byte("\n"))
		sum := sha256.Sum256(stdout.Bytes())
		got := fmt.Sprintf("%d %s", n, hex.EncodeToString(sum[:]))
		fmt.Fprintf(&out, "%s %s\n", c.name, got)
		if n == 0 {
			t.Errorf("%s: no event", c.name)
		}
		if !*updateGolden && want[c.name] != got {
			t.Errorf("%s: dump (count sha256) %s, want %s", c.name, got, want[c.name])
		}
	}
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
