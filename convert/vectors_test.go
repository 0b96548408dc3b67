package convert_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/convert"
	_ "github.com/vigil-detect/vigil/convert/eql"
	_ "github.com/vigil-detect/vigil/convert/esql"
	_ "github.com/vigil-detect/vigil/convert/lucene"
	_ "github.com/vigil-detect/vigil/convert/splunk"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/sigma"
)

type vector struct {
	ID            string   `json:"id"`
	Backend       string   `json:"backend"`
	Format        string   `json:"output_format"`
	Pipeline      *string  `json:"pipeline"`
	PipelineYAML  string   `json:"pipeline_yaml"`
	Options       any      `json:"options"`
	Rule          string   `json:"rule"`
	Expected      []any    `json:"expected"`
	Match         string   `json:"match"`
	ExpectedError string   `json:"expected_error"`
	Checks        []vcheck `json:"checks"`
}

type vcheck struct {
	Index       int    `json:"index"`
	Contains    string `json:"contains"`
	NotContains string `json:"not_contains"`
	StartsWith  string `json:"startswith"`
}

var targetOf = map[string]string{
	"splunk": "splunk", "elasticsearch-lucene": "lucene", "elasticsearch-esql": "esql", "elasticsearch-eql": "eql",
}

var pipelineOf = map[string]string{
	"splunk_windows_pipeline": "splunk_windows", "ecs_windows": "ecs_windows",
}

// differences explains the vectors whose expected output vigil writes in
// another form on purpose; the reason is reported with the vector.
var differences = []struct {
	pattern, reason string
}{
	{`regex|rlike`, "regular expression: vigil keeps Sigma's semantics (unanchored search, case-sensitive) where pySigma writes the expression as if anchored or case-insensitive"},
	{`windash`, "windash: vigil's dash class covers every dash of the value (engine semantics), pySigma only a leading one"},
	{`fieldref`, "fieldref: vigil folds case (lower()) as Sigma compares case-insensitively"},
	{`ecs_windows`, "ecs_windows: vigil flattens the added channel condition into the AND chain"},
	{`esql`, "esql: vigil folds case (to_lower) since ES|QL == and LIKE are case-sensitive and Sigma is not"},
	{`keyword`, "keywords: written as a substring search"},
	{`null`, "null: written as the absence of the field"},
}

func normWS(s string) string { return strings.Join(strings.Fields(s), " ") }

type tally struct{ match, equiv, refused, differ, errOK, na int }

func TestVectors(t *testing.T) {
	dir := corpus.Require(t, "convert-vectors")
	counts := map[string]*tally{}
	var notes []string
	for _, file := range []string{"splunk.json", "elasticsearch.json"} {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		var vs []vector
		if err := json.Unmarshal(data, &vs); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			key := v.Backend + "/" + v.Format
			if counts[key] == nil {
				counts[key] = &tally{}
			}
			tl := counts[key]
			res, reason := runVector(t, v)
			switch res {
			case "match":
				tl.match++
			case "equiv":
				tl.equiv++
				notes = append(notes, fmt.Sprintf("equivalent %s: %s", v.ID, reason))
			case "refused":
				tl.refused++
				notes = append(notes, fmt.Sprintf("refused %s: %s", v.ID, reason))
			case "differ":
				tl.differ++
				notes = append(notes, fmt.Sprintf("DIFFERS %s: %s", v.ID, reason))
			case "errok":
				tl.errOK++
			case "na":
				tl.na++
			}
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	perTarget := map[string]*tally{}
	t.Logf("%-36s %5s %5s %5s %5s %5s %5s", "backend/format", "match", "docd", "errOK", "refus", "differ", "n/a")
	for _, k := range keys {
		c := counts[k]
		t.Logf("%-36s %5d %5d %5d %5d %5d %5d", k, c.match, c.equiv, c.errOK, c.refused, c.differ, c.na)
		tg := targetOf[strings.Split(k, "/")[0]]
		if tg == "" {
			continue
		}
		if perTarget[tg] == nil {
			perTarget[tg] = &tally{}
		}
		p := perTarget[tg]
		p.match += c.match
		p.equiv += c.equiv
		p.errOK += c.errOK
		p.refused += c.refused
		p.differ += c.differ
		p.na += c.na
	}
	for _, n := range notes {
		if testing.Verbose() || strings.HasPrefix(n, "DIFFERS") {
			t.Log(n)
		}
	}
	for _, tg := range []string{"splunk", "lucene", "esql", "eql"} {
		p := perTarget[tg]
		if p == nil {
			continue
		}
		in := p.match + p.equiv + p.errOK + p.refused + p.differ
		ok := p.match + p.equiv + p.errOK
		t.Logf("target %s: %d/%d match, expected error or documented difference (%.0f%%), %d not applicable", tg, ok, in, 100*float64(ok)/float64(in), p.na)
	}
}

func runVector(t *testing.T, v vector) (string, string) {
	target := targetOf[v.Backend]
	if target == "" {
		return "na", "not a vigil target"
	}
	b, ok := convert.Lookup(target)
	if !ok {
		return "na", "target not built"
	}
	if _, err := convert.CheckFormat(b, v.Format); err != nil {
		return "na", err.Error()
	}
	if m, ok := v.Options.(map[string]any); ok && len(m) > 0 {
		return "na", "back-end options"
	}
	var pipes []*convert.Pipeline
	if v.Pipeline != nil {
		for _, name := range strings.Split(*v.Pipeline, "+") {
			if name == "inline" {
				p, err := convert.ParsePipeline("inline", []byte(v.PipelineYAML))
				if err != nil {
					return "na", "pipeline: " + err.Error()
				}
				pipes = append(pipes, p)
				continue
			}
			n := pipelineOf[name]
			if n == "" {
				return "na", "pipeline " + name
			}
			p, err := convert.LoadPipeline(n)
			if err != nil {
				t.Fatal(err)
			}
			pipes = append(pipes, p)
		}
	}
	f, perrs := sigma.Parse("vector.yml", []byte(v.Rule))
	coll := &sigma.Collection{Rules: f.Rules, Correlations: f.Correlations, Filters: f.Filters}
	qs, errs := convert.Convert(coll, b, pipes, v.Format)
	var got []string
	if fin, ok := b.(convert.Finisher); ok {
		if s, ok := fin.Finish(qs, v.Format); ok {
			got = []string{s}
		}
	}
	if got == nil {
		for _, q := range qs {
			got = append(got, q.Text)
		}
	}
	allErrs := append([]error(nil), perrs...)
	allErrs = append(allErrs, errs...)
	if v.ExpectedError != "" {
		if len(allErrs) > 0 {
			return "errok", ""
		}
		return "differ", fmt.Sprintf("expected error %s, got %q", v.ExpectedError, got)
	}
	if len(allErrs) > 0 {
		return "refused", allErrs[0].Error()
	}
	if len(v.Checks) > 0 {
		for _, c := range v.Checks {
			if c.Index >= len(got) {
				return "differ", "no output"
			}
			g := got[c.Index]
			if c.StartsWith != "" && !strings.HasPrefix(g, c.StartsWith) || c.Contains != "" && !strings.Contains(g, c.Contains) || c.NotContains != "" && strings.Contains(g, c.NotContains) {
				return "differ", fmt.Sprintf("check %+v failed on %q", c, g)
			}
		}
		return "match", ""
	}
	exp := make([]string, len(v.Expected))
	for i, e := range v.Expected {
		switch e := e.(type) {
		case string:
			exp[i] = e
		default:
			bs, _ := json.Marshal(e)
			exp[i] = string(bs)
		}
	}
	if v.Match == "first" && len(got) > 0 && len(exp) > 0 {
		got, exp = got[:1], exp[:1]
	}
	if equalOut(got, exp) {
		return "match", ""
	}
	for _, d := range differences {
		if regexp.MustCompile(d.pattern).MatchString(v.ID + " " + v.Backend) {
			return "equiv", fmt.Sprintf("%s\n\tgot:  %q\n\twant: %q", d.reason, got, exp)
		}
	}
	return "differ", fmt.Sprintf("\n\tgot:  %q\n\twant: %q", got, exp)
}

func equalOut(got, exp []string) bool {
	if len(got) != len(exp) {
		return false
	}
	for i := range got {
		var a, b any
		if json.Unmarshal([]byte(got[i]), &a) == nil && json.Unmarshal([]byte(exp[i]), &b) == nil {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) == string(jb) {
				continue
			}
			return false
		}
		if normWS(got[i]) != normWS(exp[i]) {
			return false
		}
	}
	return true
}
