package kql_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/convert/kql"
	"github.com/vigil-detect/vigil/sigma"
)

// TestQuotingKustoLanguage converts random hostile values and column
// names (every control character, quotes, backslashes, brackets, pipes,
// white space of every class, comment and operator fragments) and parses
// the queries with Kusto.Language, Microsoft's own KQL parser: each must
// parse without a diagnostic, with the value as its one string literal
// and the column name (when bracketed) coming back exactly.
// convert/quote_test.go checks the same with a tokenizer of vigil's; this
// is the parser SIEM consoles use.
func TestQuotingKustoLanguage(t *testing.T) {
	dir := filepath.Join("testdata", "analyse")
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		t.Skip("the Kusto.Language harness (testdata/analyse) is not in this tree")
	}
	analyser(t) // skips (fails under CI) when node or the npm package is missing
	var alphabet []rune
	for r := rune(0); r <= 0x3000; r++ {
		if r < 0x20 || r >= 0x7f && r < 0xa0 || unicode.IsSpace(r) {
			alphabet = append(alphabet, r)
		}
	}
	alphabet = append(alphabet, 0x2028, 0x2029, 0x200b, 0xfeff, 0xe0001)
	alphabet = append(alphabet, []rune(`'"\[](){}|&!^~*?:=/;,#@$%+-._ aZ9é`)...)
	words := []string{"'] or true //", `" or true //`, "\n\n", "\r\n", "| where 1==1", "```", "~~~", `@"`, "\\'"}
	r := rand.New(rand.NewPCG(7, 15))
	gen := func() string {
		var b strings.Builder
		for n := 1 + r.IntN(12); n > 0; n-- {
			if r.IntN(5) == 0 {
				b.WriteString(words[r.IntN(len(words))])
			} else {
				b.WriteRune(alphabet[r.IntN(len(alphabet))])
			}
		}
		return b.String()
	}
	type tcase struct{ field, value string }
	var cases []tcase
	var queries []string
	for i := 0; i < 300; i++ {
		c := tcase{gen(), gen()}
		p := &convert.Prepared{Rule: &sigma.Rule{}, State: map[string]any{"query_table": "T"},
			Tree: &convert.Cond{Field: c.field, Op: convert.OpString, Pat: convert.Pattern{{Kind: convert.Lit, Lit: c.value}}}}
		q, err := kql.Backend{}.Rule(p, "default")
		if err != nil {
			t.Fatalf("%+q: %v", c, err)
		}
		cases = append(cases, c)
		queries = append(queries, q)
	}
	in, _ := json.Marshal(queries)
	cmd := exec.Command("node", filepath.Join("testdata", "quote", "literals.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	out, err := cmd.Output()
	timer.Stop()
	if err != nil {
		t.Fatalf("node literals.mjs: %v\n%s", err, stderr.String())
	}
	var res []struct {
		Diagnostics int       `json:"diagnostics"`
		Strings     [][]int32 `json:"strings"`
		Names       [][]int32 `json:"names"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(queries) {
		t.Fatalf("literals.mjs output: %v (%d results for %d queries)", err, len(res), len(queries))
	}
	text := func(cps []int32) string { return string(cps) }
	for i, c := range cases {
		got := res[i]
		if got.Diagnostics != 0 {
			t.Errorf("%+q: Kusto.Language reports %d diagnostics in\n%s", c, got.Diagnostics, queries[i])
			continue
		}
		if len(got.Strings) != 1 && !(len(got.Names) == 1 && len(got.Strings) == 2) {
			t.Errorf("%+q: %d string literals (%d bracketed names) in\n%s", c, len(got.Strings), len(got.Names), queries[i])
			continue
		}
		if v := text(got.Strings[len(got.Strings)-1]); v != c.value {
			t.Errorf("%+q: the value reads back as %+q in\n%s", c, v, queries[i])
		}
		if len(got.Names) == 1 && text(got.Names[0]) != c.field {
			t.Errorf("%+q: the column reads back as %+q in\n%s", c, text(got.Names[0]), queries[i])
		}
		if len(got.Names) == 0 && !strings.Contains(queries[i], "| where "+c.field+" =~ ") {
			t.Errorf("%+q: column neither bracketed nor written as it is in\n%s", c, queries[i])
		}
	}
}
