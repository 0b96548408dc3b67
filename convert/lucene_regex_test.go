package convert_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/sigma"
)

// luceneJar is Debian's liblucene8-java, which .ci/run installs.
const luceneJar = "/usr/share/java/lucene-core-8.7.0.jar"

// lucene starts testdata/lucene/LuceneRegex.java (compiled with javac)
// over Lucene's own RegExp, skipping the test (failing it under CI) when
// the JDK or Lucene is missing.
func lucene(t *testing.T) (ask func(re string, samples []string) (string, error), stop func()) {
	t.Helper()
	missing := ""
	if _, err := exec.LookPath("javac"); err != nil {
		missing = "javac (a JDK) is not installed"
	} else if _, err := os.Stat(luceneJar); err != nil {
		missing = luceneJar + " is missing (apt-get install liblucene8-java)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(missing)
		}
		t.Skip(missing + "; skipping the check against Lucene's RegExp")
	}
	dir := t.TempDir()
	if out, err := exec.Command("javac", "-d", dir, "-cp", luceneJar, filepath.Join("testdata", "lucene", "LuceneRegex.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	cmd := exec.Command("java", "-cp", dir+string(os.PathListSeparator)+luceneJar, "LuceneRegex")
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(outp)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	ask = func(re string, samples []string) (string, error) {
		fields := []string{b64(re)}
		for _, s := range samples {
			fields = append(fields, b64(s))
		}
		fmt.Fprintln(in, strings.Join(fields, "\t"))
		if !sc.Scan() {
			t.Fatalf("LuceneRegex stopped: %v", sc.Err())
		}
		status, rest, _ := strings.Cut(sc.Text(), "\t")
		if status != "ok" {
			return "", fmt.Errorf("%s", rest)
		}
		return rest, nil
	}
	stop = func() { in.Close(); cmd.Wait(); timer.Stop() }
	return ask, stop
}

// ruleRegexes returns the regular expressions (re modifier, flags
// folded in) of every SigmaHQ rule and the advisory.
func ruleRegexes(t *testing.T) map[string]string {
	out := map[string]string{}
	add := func(coll *sigma.Collection) {
		for _, r := range coll.Rules {
			p, err := convert.Prepare(r, nil, nil)
			if err != nil {
				continue
			}
			convert.Walk(p.Tree, func(c *convert.Cond) {
				if c.Op == convert.OpRegex {
					out[c.Regex] = fmt.Sprintf("%s:%d", r.Pos.File, c.Pos.Line)
				}
			})
		}
	}
	root := corpus.Require(t, "sigma")
	dirs, _ := filepath.Glob(filepath.Join(root, "rules*"))
	for _, d := range dirs {
		coll, _ := sigma.LoadPaths(d)
		add(coll)
	}
	adv, _ := advisory.Rules()
	add(adv)
	return out
}

// gen writes a random string the expression matches (for anchors and
// word boundaries nothing: the surrounding text decides).
func gen(re *syntax.Regexp, rnd *rand.Rand, b *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && rnd.Intn(2) == 0 {
				r = []rune(strings.ToUpper(string(r)))[0]
			}
			b.WriteRune(r)
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return
		}
		i := rnd.Intn(len(re.Rune)/2) * 2
		lo, hi := re.Rune[i], re.Rune[i+1]
		if hi-lo > 200 {
			hi = lo + 200
		}
		r := lo + rune(rnd.Intn(int(hi-lo)+1))
		if utf8.ValidRune(r) {
			b.WriteRune(r)
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		const any = " aZ0\\.\"'/-_"
		b.WriteByte(any[rnd.Intn(len(any))])
	case syntax.OpCapture:
		gen(re.Sub[0], rnd, b)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			gen(s, rnd, b)
		}
	case syntax.OpAlternate:
		gen(re.Sub[rnd.Intn(len(re.Sub))], rnd, b)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, 3
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, re.Max
			if hi < 0 || hi > lo+3 {
				hi = lo + 3
			}
		}
		n := lo + rnd.Intn(hi-lo+1)
		for i := 0; i < n; i++ {
			gen(re.Sub[0], rnd, b)
		}
	}
}

// samples returns strings around the expression: generated matches with
// and without surrounding text, and mutations of them.
func samples(src string, rnd *rand.Rand) []string {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil
	}
	affixes := []string{"", "", " ", "x", "\"", "C:\\", "\n", "a b"}
	var out []string
	for i := 0; i < 12; i++ {
		var b strings.Builder
		gen(re, rnd, &b)
		s := affixes[rnd.Intn(len(affixes))] + b.String() + affixes[rnd.Intn(len(affixes))]
		out = append(out, s)
		if rs := []rune(s); len(rs) > 0 {
			k := rnd.Intn(len(rs))
			out = append(out, string(append(append([]rune{}, rs[:k]...), rs[k+1:]...)))
			out = append(out, string(rs[:k])+string(rune("a/\\ .\"'"[rnd.Intn(7)]))+string(rs[k:]))
		}
	}
	return out
}

// TestLuceneRegexes translates every regular expression of SigmaHQ's
// rules and the advisory into Lucene's RegExp dialect (lucene, eql,
// esql): each translation must parse with Lucene's own RegExp, and it
// must accept and reject the same generated samples as Go's regexp
// searching for the source (vigil's semantics). What cannot be
// translated is refused with a reason (counted).
func TestLuceneRegexes(t *testing.T) {
	res := ruleRegexes(t)
	ask, stop := lucene(t)
	defer stop()
	var keys []string
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rnd := rand.New(rand.NewSource(1))
	refused := map[string]int{}
	translated, parsed, agreed, nsamples := 0, 0, 0, 0
	for _, src := range keys {
		l, err := convert.LuceneRegex(src)
		if err != nil {
			refused[err.Error()]++
			// A refusal for complexity must be one Lucene makes too.
			if strings.Contains(err.Error(), "determinized states") {
				u, uerr := convert.LuceneRegexUnchecked(src)
				if uerr != nil {
					t.Errorf("%q: %v", src, uerr)
				} else if _, lerr := ask(u, nil); lerr == nil || !strings.Contains(lerr.Error(), "10000 states") {
					t.Errorf("%s: %q refused as too complex, but Lucene determinizes %q: %v", res[src], src, u, lerr)
				}
			}
			continue
		}
		translated++
		ss := samples(src, rnd)
		bits, err := ask(l, ss)
		if err != nil {
			t.Errorf("%s: %q translates to %q, which Lucene's RegExp rejects: %v", res[src], src, l, err)
			continue
		}
		parsed++
		goRE := regexp.MustCompile(src)
		ok := true
		for i, s := range ss {
			nsamples++
			if want := goRE.MatchString(s); want != (bits[i] == '1') {
				t.Errorf("%s: %q (Lucene %q) on %q: Go %v, Lucene %v", res[src], src, l, s, want, !want)
				ok = false
				break
			}
		}
		if ok {
			agreed++
		}
	}
	t.Logf("%d regular expressions: %d translated, %d parsed by Lucene, %d agree with Go on %d samples; %d refused", len(keys), translated, parsed, agreed, nsamples, len(keys)-translated)
	for r, n := range refused {
		t.Logf("  refused %d: %s", n, r)
	}
	// The advisory's script rule: "$" and "^" inside alternations.
	for _, src := range []string{`(?i)\.(bat|cmd)([\s"']|$)`, `(?i)(^|[\s"']|\.exe)/[ck]`} {
		l, err := convert.LuceneRegex(src)
		if err != nil {
			t.Fatal(err)
		}
		ss := []string{`cmd.exe /c update.bat`, `cmd /c x.cmd "y"`, `a.bat2`, `"C:\Windows\cmd.exe" /c x`, `cmd.exe/k`, `/c`, `x/c`, "a.BAT\n"}
		bits, err := ask(l, ss)
		if err != nil {
			t.Fatalf("%q -> %q: %v", src, l, err)
		}
		for i, s := range ss {
			if want := regexp.MustCompile(src).MatchString(s); want != (bits[i] == '1') {
				t.Errorf("%q -> %q on %q: Go %v, Lucene %v", src, l, s, want, !want)
			}
		}
	}
}
