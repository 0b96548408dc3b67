package report_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/attack"
	"github.com/vigil-detect/vigil/cli"
	"github.com/vigil-detect/vigil/internal/browser"
	"github.com/vigil-detect/vigil/internal/corpus"
	"github.com/vigil-detect/vigil/report"
)

// huntBoth runs vigil hunt with args twice, from dir: once to a report
// file, once as JSON Lines, and returns the report's path and the alerts.
func huntBoth(t *testing.T, dir string, args ...string) (string, []alert.Alert) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report.html")
	run := func(extra ...string) []byte {
		var stdout, stderr bytes.Buffer
		a := append(append([]string{"hunt", "--quiet", "--workers", "2"}, extra...), args...)
		old, _ := os.Getwd()
		if err := os.Chdir(dir); err != nil {
			t.Fatal(err)
		}
		code := cli.Main(context.Background(), a, cli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
		if err := os.Chdir(old); err != nil {
			t.Fatal(err)
		}
		if code != 0 {
			t.Fatalf("vigil %v: exit %d: %s", a, code, stderr.String())
		}
		return stdout.Bytes()
	}
	run("-o", out)
	var alerts []alert.Alert
	sc := bufio.NewScanner(bytes.NewReader(run("--format", "jsonl")))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var a alert.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, a)
	}
	return out, alerts
}

// openReport loads the report in the browser and waits for the table.
func openReport(t *testing.T, b *browser.Browser, path string) {
	t.Helper()
	if err := b.Do(chromedp.Navigate("file://"+path), chromedp.WaitReady(chromedp.CSS("body[data-ready]"))); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, b *browser.Browser) int {
	t.Helper()
	s, err := b.Text("#count")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("#count %q: %v", s, err)
	}
	return n
}

// choose sets a filter select the way a user's choice does and returns the
// count shown.
func choose(t *testing.T, b *browser.Browser, id, value string) int {
	t.Helper()
	js := `(function(){var s=document.getElementById(` + browser.Quote(id) + `);s.value=` + browser.Quote(value) +
		`;if(s.value!==` + browser.Quote(value) + `)return "no option";s.dispatchEvent(new Event("change"));return "ok"})()`
	r, err := browser.Eval[string](b, js)
	if err != nil || r != "ok" {
		t.Fatalf("choose %s=%q: %v %s", id, value, err, r)
	}
	return count(t, b)
}

// checkClean fails on dialogs, network requests other than the report
// itself, and script errors.
func checkClean(t *testing.T, b *browser.Browser, path string) {
	t.Helper()
	if d := b.Dialogs(); len(d) > 0 {
		t.Errorf("dialogs opened: %q", d)
	}
	for _, u := range b.Requests() {
		// data: URLs do not leave the browser (Chromium's own date
		// picker icon is one).
		if u != "file://"+path && !strings.HasPrefix(u, "data:") {
			t.Errorf("the report made a request: %s", u)
		}
	}
	if e := b.Errors(); len(e) > 0 {
		t.Errorf("script errors: %q", e)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBrowserExample(t *testing.T) {
	b := browser.Start(t, 45*time.Second)
	path, alerts := huntBoth(t, repoRoot(t), "testdata/example/events.jsonl")
	openReport(t, b, path)
	if n := count(t, b); n != len(alerts) || n == 0 {
		t.Fatalf("page shows %d alerts, JSON output has %d", n, len(alerts))
	}
	// The detail of an advisory alert: its process tree (WINWORD.EXE
	// above cmd.exe, the connection below), its triage guidance.
	if err := b.Do(chromedp.Click(chromedp.CSS("#rows tr")), chromedp.WaitVisible(chromedp.CSS("#detail .ptree"))); err != nil {
		t.Fatal(err)
	}
	for sel, want := range map[string]string{
		"#detail li.subject > .proc-head .img":    `cmd.exe`,
		"#detail li.subject code.cmd":             `update.bat`,
		"#detail li.conn .dest":                   `185.199.110.153:443`,
		"#detail ol.triage-steps":                 ``,
		"#detail .tags a[href^='https://attack']": `attack.t1059.003`,
	} {
		got, err := b.Text(sel)
		if err != nil {
			t.Fatal(err)
		}
		if got == "" || !strings.Contains(got, want) {
			t.Errorf("%s: %q, want it to contain %q", sel, got, want)
		}
	}
	// The matrix and the detail name the rule's technique from vigil's
	// ATT&CK table, beside its id and link (the detail a sub-technique with
	// its parent's name).
	tech, name := "T1059.003", attack.TechniqueName("T1059.003")
	full := attack.TechniqueName("T1059") + ": " + name
	cells, err := browser.Eval[[]string](b, `Array.from(document.querySelectorAll("#matrix .tech")).map(function(e){`+
		`var a=e.querySelector("a"),n=e.querySelector(".tech-name");return a.textContent+"|"+a.href+"|"+(n?n.textContent:"")})`)
	if err != nil {
		t.Fatal(err)
	}
	if want := tech + "|https://attack.mitre.org/techniques/T1059/003/|" + name; !slices.Contains(cells, want) {
		t.Errorf("matrix cells %q, want one %q", cells, want)
	}
	if got, err := b.Text("#detail .techs"); err != nil || !strings.Contains(got, tech+" "+full) {
		t.Errorf("detail ATT&CK techniques %q (%v), want %q", got, err, tech+" "+full)
	}
	// ancestors outermost first, then the process
	imgs, err := browser.Eval[[]string](b, `Array.from(document.querySelectorAll("#detail .ptree .img")).map(function(e){return e.textContent})`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`C:\Windows\explorer.exe`, `C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE`, `C:\Windows\System32\cmd.exe`}; strings.Join(imgs, "|") != strings.Join(want, "|") {
		t.Errorf("process tree images %q, want %q", imgs, want)
	}
	checkClean(t, b, path)
}

func TestBrowserCorpus(t *testing.T) {
	corpus.Require(t, "sigma", "rules", "windows")
	corpus.Require(t, "evtx-attack-samples", "Execution")
	b := browser.Start(t, 50*time.Second)
	path, alerts := huntBoth(t, corpus.Dir(), "-r", "sigma/rules/windows", "evtx-attack-samples/Execution")
	openReport(t, b, path)
	total := count(t, b)
	if total != len(alerts) || total == 0 {
		t.Fatalf("page shows %d alerts, JSON output has %d", total, len(alerts))
	}
	if err := b.Do(chromedp.WaitVisible(chromedp.CSS("#matrix .tech a"))); err != nil {
		t.Fatal(err)
	}
	if err := b.Do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0,0)`)); err != nil {
		t.Fatal(err)
	}
	// Nothing spills out of the page sideways (the matrix scrolls in its
	// own box).
	if over, err := browser.Eval[bool](b, `document.documentElement.scrollWidth > document.documentElement.clientWidth`); err != nil || over {
		t.Errorf("the page is wider than the window (%v)", err)
	}
	b.Screenshot(t, "report.png", "")

	byHost, byLevel := map[string]int{}, map[string]int{}
	for _, a := range alerts {
		byHost[a.Host]++
		byLevel[a.Rule.Level]++
	}
	if len(byHost) < 2 || len(byLevel) < 2 {
		t.Fatalf("corpus sample too uniform: hosts %v, levels %v", byHost, byLevel)
	}
	for h, n := range byHost {
		if got := choose(t, b, "f-host", h); got != n || got >= total {
			t.Errorf("host %q: %d rows, want %d of %d", h, got, n, total)
		}
	}
	choose(t, b, "f-host", "")
	for l, n := range byLevel {
		if got := choose(t, b, "f-level", l); got != n || got >= total {
			t.Errorf("level %q: %d rows, want %d of %d", l, got, n, total)
		}
	}
	choose(t, b, "f-level", "")
	// Host and level together narrow further.
	var h, l string
	want := 0
	for _, a := range alerts {
		if h == "" {
			h, l = a.Host, a.Rule.Level
		}
		if a.Host == h && a.Rule.Level == l {
			want++
		}
	}
	choose(t, b, "f-host", h)
	if got := choose(t, b, "f-level", l); got != want {
		t.Errorf("host %q and level %q: %d rows, want %d", h, l, got, want)
	}
	choose(t, b, "f-host", "")
	choose(t, b, "f-level", "")

	// A process-creation alert's detail shows its tree with an ancestor
	// recorded from the input.
	if _, err := browser.Eval[string](b, `(function(){var t=document.getElementById("f-text");t.value="parentprocessguid";t.dispatchEvent(new Event("input"));return ""})()`); err != nil {
		t.Fatal(err)
	}
	if err := b.Do(chromedp.Sleep(400*time.Millisecond), chromedp.Click(chromedp.CSS("#rows tr")), chromedp.WaitVisible(chromedp.CSS("#detail .ptree li.subject"))); err != nil {
		t.Fatal(err)
	}
	img, err := b.Text("#detail li.subject > .proc-head .img")
	if err != nil || img == "" || img == "(unknown image)" {
		t.Errorf("subject process: %q %v", img, err)
	}
	if n, err := b.NodeCount("#detail .ptree li.ancestor"); err != nil || n == 0 {
		t.Errorf("no ancestor in the process tree (%d, %v)", n, err)
	}
	b.Screenshot(t, "report-detail.png", "#detail")
	checkClean(t, b, path)
}

// TestBrowserHostile shows events whose fields are markup and script:
// they must appear as text, create no element and open no dialog.
func TestBrowserHostile(t *testing.T) {
	b := browser.Start(t, 45*time.Second)
	dir, err := filepath.Abs(filepath.Join("testdata", "hostile"))
	if err != nil {
		t.Fatal(err)
	}
	path, alerts := huntBoth(t, dir, "-r", "rules", "events.jsonl")
	openReport(t, b, path)
	if n := count(t, b); n != len(alerts) || n != 4 {
		t.Fatalf("page shows %d alerts, JSON output has %d (want 4)", n, len(alerts))
	}
	// Open every alert's detail, with its tree, fields and rule.
	var seen strings.Builder
	for i := range alerts {
		if err := b.Do(chromedp.Click(chromedp.CSS("#rows tr:nth-child("+strconv.Itoa(i+1)+")")), chromedp.WaitVisible(chromedp.CSS("#detail .ptree"))); err != nil {
			t.Fatal(err)
		}
		for sel, want := range map[string]int{
			"img": 0, "svg:not(.timeline)": 0, "script": 2, "iframe": 0, "object": 0, "b": 0,
			"a[href^='javascript']": 0, "[onerror]": 0, "[onload]": 0,
		} {
			if n, err := b.NodeCount(sel); err != nil || n != want {
				t.Errorf("alert %d: %d elements %s, want %d (%v)", i, n, sel, want, err)
			}
		}
		text, err := b.Text("#detail")
		if err != nil {
			t.Fatal(err)
		}
		seen.WriteString(text)
		if !strings.Contains(text, "<img src=x onerror=alert(1)>") && !strings.Contains(text, "</script><script>alert(1)</script>") {
			t.Errorf("alert %d: the payload is not shown as text: %.300q", i, text)
		}
	}
	all, err := b.Text("body")
	if err != nil {
		t.Fatal(err)
	}
	all += seen.String()
	for _, s := range []string{"<img src=x onerror=alert(1)>", "</script><script>alert(1)</script>", "javascript:alert(1)", "<svg onload=alert(1)>", `<b>bold</b> & "quotes"`} {
		if !strings.Contains(all, s) {
			t.Errorf("page text lacks %q", s)
		}
	}
	// Free-text search and the host filter work on the hostile values.
	if got := choose(t, b, "f-host", "<img src=x onerror=alert(1)>"); got != 2 {
		t.Errorf("host filter on the hostile host: %d rows, want 2", got)
	}
	checkClean(t, b, path)
}

// TestBrowserLarge opens a report of 100,000 alerts: it must render (the
// table pages), and filtering must narrow it. The times are logged, not
// asserted (docs/performance.md quotes them).
func TestBrowserLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000-alert report: skipped with -short")
	}
	b := browser.Start(t, 80*time.Second)
	const n = 100_000
	alerts, ix := synthetic(n)
	path := filepath.Join(t.TempDir(), "large.html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := report.New(f, report.Options{Title: "large", Index: ix})
	for _, a := range alerts {
		if err := w.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, _ := os.Stat(path)
	start := time.Now()
	openReport(t, b, path)
	loaded := time.Since(start)
	if got := count(t, b); got != n {
		t.Fatalf("page shows %d alerts, want %d", got, n)
	}
	if rows, err := b.NodeCount("#rows tr"); err != nil || rows != 100 {
		t.Errorf("%d rows in the table, want one page of 100 (%v)", rows, err)
	}
	start = time.Now()
	got := choose(t, b, "f-host", "WS-07.corp.example")
	filtered := time.Since(start)
	if got != n/20 {
		t.Errorf("host filter: %d rows, want %d", got, n/20)
	}
	start = time.Now()
	if err := b.Do(chromedp.Click(chromedp.CSS(`th button[data-sort="rule"]`))); err != nil {
		t.Fatal(err)
	}
	sorted := time.Since(start)
	choose(t, b, "f-host", "")
	// Free text over every field of every alert (the first search
	// builds the text of each alert).
	start = time.Now()
	if _, err := browser.Eval[string](b, `(function(){var t=document.getElementById("f-text");t.value="update5000.bat";t.dispatchEvent(new Event("input"));return ""})()`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for count(t, b) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("text search: %d rows, want 1", count(t, b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	searched := time.Since(start)
	// Again, once the search text is built (the time includes the
	// 150 ms the page waits for typing to pause).
	start = time.Now()
	if _, err := browser.Eval[string](b, `(function(){var t=document.getElementById("f-text");t.value="user7\\appdata";t.dispatchEvent(new Event("input"));return ""})()`); err != nil {
		t.Fatal(err)
	}
	for count(t, b) != n/100 {
		if time.Now().After(deadline) {
			t.Fatalf("second text search: %d rows, want %d", count(t, b), n/100)
		}
		time.Sleep(10 * time.Millisecond)
	}
	searched2 := time.Since(start)
	t.Logf("%d alerts, %.1f MiB: loaded and rendered in %v, host filter %v, sort %v, first text search %v, second %v",
		n, float64(st.Size())/(1<<20), loaded, filtered, sorted, searched, searched2)
	checkClean(t, b, path)
}
