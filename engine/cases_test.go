package engine_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-detect/vigil/engine"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/sigma"
	"github.com/vigil-detect/vigil/source/jsonl"
)

var updateGolden = flag.Bool("update", false, "rewrite the want.txt goldens of engine/testdata from the current results")

// TestCases runs the data-driven cases of testdata/<case>/:
//
//   - rules.yml: the rules (and filters) of the case, as a multi-document
//     Sigma file; every rule needs an id, which want.txt names.
//   - placeholders.yml (optional): a map of placeholder names to lists of
//     values, given as Options.Placeholders.
//   - events.jsonl: one flat JSON event per line; blank lines and lines
//     starting with # (comments documenting the case) are skipped.
//   - want.txt: first the compile errors and warnings ("error: ..." and
//     "warning: ..." lines, positions without the folder), then for each
//     event "N: id id ..." (the ids of the matching rules in rule order, or
//     "-" when none matches), N counting events from 1.
//
// The expected results come from the Sigma specification's semantics, not
// from running vigil: edit want.txt by hand and use -update only to
// reformat or to record a reviewed change.
func TestCases(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no test cases in testdata")
	}
	for _, rf := range dirs {
		dir := filepath.Dir(rf)
		t.Run(filepath.Base(dir), func(t *testing.T) { runMatchCase(t, dir) })
	}
}

func runMatchCase(t *testing.T, dir string) {
	var out bytes.Buffer
	data, err := os.ReadFile(filepath.Join(dir, "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	file, errs := sigma.Parse("rules.yml", data)
	for _, e := range errs {
		fmt.Fprintf(&out, "error: %v\n", e)
	}
	for _, w := range file.Warnings {
		fmt.Fprintf(&out, "warning: %v\n", w)
	}
	opts := engine.Options{Filters: file.Filters}
	if ph, err := os.ReadFile(filepath.Join(dir, "placeholders.yml")); err == nil {
		if err := yaml.Unmarshal(ph, &opts.Placeholders); err != nil {
			t.Fatalf("placeholders.yml: %v", err)
		}
	}
	for _, r := range file.Rules {
		if r.ID == "" {
			t.Fatalf("rule %q has no id", r.Title)
		}
	}
	eng, cerrs := engine.Compile(file.Rules, opts)
	for _, e := range cerrs {
		fmt.Fprintf(&out, "error: %v\n", e)
	}
	for _, w := range eng.Warnings() {
		fmt.Fprintf(&out, "warning: %v\n", w)
	}

	evf, err := os.Open(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer evf.Close()
	var dec jsonl.Decoder
	ev := event.New(eng.Schema())
	unfiltered := eng.NewMatcher()
	unfiltered.Unfiltered = true
	sc := bufio.NewScanner(evf)
	sc.Buffer(nil, 1<<20)
	n, line := 0, 0
	var matched []*engine.Rule
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		n++
		if err := dec.Decode(text, ev); err != nil {
			t.Fatalf("events.jsonl:%d: %v", line, err)
		}
		matched, err = eng.Match(ev, matched[:0])
		if err != nil {
			t.Errorf("events.jsonl:%d: %v", line, err)
		}
		// The literal pre-filter may only skip rules that cannot match.
		full, _ := unfiltered.Match(ev, nil)
		if !slices.Equal(matched, full) {
			t.Errorf("events.jsonl:%d: with the pre-filter %v, without %v", line, ruleIDs(matched), ruleIDs(full))
		}
		ids := ruleIDs(matched)
		if len(ids) == 0 {
			ids = []string{"-"}
		}
		fmt.Fprintf(&out, "%d: %s\n", n, strings.Join(ids, " "))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	checkMatchGolden(t, filepath.Join(dir, "want.txt"), out.Bytes())
}

func ruleIDs(rs []*engine.Rule) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID()
	}
	return ids
}

func checkMatchGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("%s line %d:\n got: %s\nwant: %s", path, i+1, g, w)
		}
	}
}
