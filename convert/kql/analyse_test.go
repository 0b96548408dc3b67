package kql_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/convert"
	_ "github.com/vigil-detect/vigil/convert/kql"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/sigma"
)

// analyser returns the command that runs testdata/analyse/analyse.mjs,
// skipping the test (failing it under CI) when node or the pinned
// @kusto/language-service-next package is missing (.ci/run installs it
// with npm ci).
func analyser(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("testdata", "analyse")
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not installed"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "@kusto", "language-service-next", "package.json")); err != nil {
		missing = "the npm package @kusto/language-service-next is not installed (cd convert/kql/testdata/analyse && npm ci)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(missing)
		}
		t.Skip(missing + "; skipping the Kusto.Language analysis")
	}
	return filepath.Join(dir, "analyse.mjs")
}

type query struct {
	DB   string `json:"db"`
	ID   string `json:"id"`
	Text string `json:"text"`
}

type diagnostic struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	Start    int    `json:"start"`
	Length   int    `json:"length"`
}

type result struct {
	ID          string       `json:"id"`
	Diagnostics []diagnostic `json:"diagnostics"`
}

// analyse runs Kusto.Language once over all queries.
func analyse(t *testing.T, script string, qs []query) map[string][]diagnostic {
	t.Helper()
	in, err := json.Marshal(qs)
	if err != nil {
		t.Error(err)
		return nil
	}
	cmd := exec.Command("node", script, "schemas.json")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	timer := time.AfterFunc(5*time.Minute, func() {
		if cmd.Process != nil {
			cmd.Process.Kill()
		}
	})
	out, err := cmd.Output()
	timer.Stop()
	if err != nil {
		t.Errorf("analyse.mjs: %v\n%s", err, stderr.String())
		return nil
	}
	var rs []result
	if err := json.Unmarshal(out, &rs); err != nil {
		t.Errorf("analyse.mjs output: %v", err)
		return nil
	}
	m := map[string][]diagnostic{}
	for _, r := range rs {
		m[r.ID] = r.Diagnostics
	}
	return m
}

// rules loads SigmaHQ's Windows, emerging-threats and threat-hunting
// rules and the built-in advisory.
func rules(t *testing.T) *sigma.Collection {
	coll := &sigma.Collection{}
	for _, d := range []string{"rules/windows", "rules-emerging-threats", "rules-threat-hunting"} {
		c, _ := sigma.LoadPaths(corpus.Require(t, "sigma", d))
		coll.Add(c)
	}
	adv, errs := advisory.Rules()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	coll.Add(adv)
	return coll
}

// TestKustoAnalyser converts every SigmaHQ rule of rules/windows,
// rules-emerging-threats and rules-threat-hunting and the built-in
// advisory with each KQL pipeline and analyses every query with
// Kusto.Language against the embedded schemas: no query may have an
// error diagnostic (unknown column, type mismatch, syntax, depth).
func TestKustoAnalyser(t *testing.T) {
	script := analyser(t)
	coll := rules(t)
	b, _ := convert.Lookup("kql")
	// Each pipeline's queries go to one node process; the three run
	// side by side.
	type run struct {
		name  string
		qs    []convert.Query
		errs  []error
		diags map[string][]diagnostic
		took  time.Duration
	}
	var runs []*run
	for _, name := range []string{"microsoft_xdr", "sentinel_asim", "azure_monitor"} {
		pl, err := convert.LoadPipeline(name)
		if err != nil {
			t.Fatal(err)
		}
		qs, errs := convert.Convert(coll, b, []*convert.Pipeline{pl}, "")
		runs = append(runs, &run{name: name, qs: qs, errs: errs})
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		var in []query
		for i, q := range r.qs {
			in = append(in, query{DB: r.name, ID: fmt.Sprint(i), Text: q.Text})
		}
		wg.Add(1)
		go func(r *run) {
			defer wg.Done()
			start := time.Now()
			r.diags = analyse(t, script, in)
			r.took = time.Since(start)
		}(r)
	}
	wg.Wait()
	for _, r := range runs {
		name, qs, errs, diags := r.name, r.qs, r.errs, r.diags
		if diags == nil {
			continue
		}
		warnings := 0
		for _, q := range qs {
			warnings += len(q.Warnings)
		}
		valid, bad := 0, 0
		for i, q := range qs {
			ok := true
			for _, d := range diags[fmt.Sprint(i)] {
				if d.Severity == "Error" {
					ok = false
					if bad < 20 {
						t.Errorf("%s: %s:%d: %s (%s) at %d in:\n%s", name, q.Pos.File, q.Pos.Line, d.Message, d.Code, d.Start, excerpt(q.Text, d.Start))
					}
				}
			}
			if ok {
				valid++
			} else {
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d queries with errors", name, bad)
		}
		t.Logf("%s: %d converted, %d refused, %d valid (Kusto.Language, %v), %d detection items left out", name, len(qs), len(errs), valid, r.took.Round(time.Millisecond), warnings)
		for _, r := range topReasons(errs, 8) {
			t.Logf("%s:   %s", name, r)
		}
	}
}

func excerpt(s string, at int) string {
	lo, hi := max(0, at-120), min(len(s), at+120)
	return s[lo:hi]
}

// topReasons counts refusal reasons with positions and rule-specific
// text cut off.
func topReasons(errs []error, n int) []string {
	count := map[string]int{}
	for _, e := range errs {
		msg := e.Error()
		if se, ok := e.(*sigma.Error); ok {
			msg = se.Msg
		}
		if i := strings.Index(msg, "; columns from"); i > 0 {
			msg = msg[:i]
		}
		if len(msg) > 140 {
			msg = msg[:140]
		}
		count[msg]++
	}
	var keys []string
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if count[keys[i]] != count[keys[j]] {
			return count[keys[i]] > count[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var out []string
	for i, k := range keys {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%5d  %s", count[k], k))
	}
	return out
}
