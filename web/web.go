// Package web holds the one set of templates and assets behind vigil's
// alert views — the self-contained HTML report of vigil hunt (package
// report) and the live console of vigil serve (package console) — and
// renders the page both use.
//
// The page is one html/template (assets/page.html) with the stylesheet
// (assets/app.css) and the script (assets/app.js) inlined, so a report is
// one file that opens offline. The script is small, has no build step and
// no dependency; it builds every view (summary, charts, ATT&CK matrix,
// alerts table, alert detail with its process tree) with createElement
// and textContent from JSON data, so that no event field is ever parsed
// as markup. The script carries vigil's ATT&CK table (package attack) as
// a JSON literal, for the tactic and technique names. The
// Content-Security-Policy allows only this script and this stylesheet, by
// their SHA-256 hashes.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"strings"

	"github.com/vigil-detect/vigil/attack"
)

//go:embed assets/page.html assets/app.css assets/app.js
var assets embed.FS

var (
	page    *template.Template
	script  string
	style   string
	jsHash  string
	cssHash string
)

// attackToken in the script stands for vigil's ATT&CK table.
const attackToken = "VIGIL_ATTACK_TABLE"

func init() {
	b, err := assets.ReadFile("assets/app.js")
	if err != nil {
		panic(err)
	}
	// The ATT&CK table goes into the script as JSON, {"tactics": [...],
	// "techniques": {id: name}}, before its hash is taken. encoding/json
	// escapes '<' (and U+2028, U+2029): the literal cannot end the script
	// element nor break the script.
	table, err := json.Marshal(struct {
		Tactics    []attack.Tactic   `json:"tactics"`
		Techniques map[string]string `json:"techniques"`
	}{attack.Tactics(), attack.Techniques()})
	if err != nil {
		panic(err)
	}
	if strings.Count(string(b), attackToken) != 1 {
		panic("web: app.js lacks its ATT&CK table token")
	}
	script = strings.Replace(string(b), attackToken, string(table), 1)
	if b, err = assets.ReadFile("assets/app.css"); err != nil {
		panic(err)
	}
	style = string(b)
	jsHash, cssHash = hash(script), hash(style)
	page = template.Must(template.ParseFS(assets, "assets/page.html"))
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// Modes of the page.
const (
	ModeReport  = "report"
	ModeConsole = "console"
)

// CSP returns the Content-Security-Policy of the page in a mode: nothing
// but the page's own script and stylesheet (by hash) and data: images;
// the report may connect nowhere and submit no form, the console only to
// its own origin. (A served page adds frame-ancestors 'none' in its
// header: browsers ignore it in the page's meta element.)
func CSP(mode string) string {
	base := "default-src 'none'; script-src " + jsHash + "; style-src " + cssHash +
		"; img-src data:; base-uri 'none'"
	if mode == ModeConsole {
		return base + "; connect-src 'self'; form-action 'self'"
	}
	return base + "; connect-src 'none'; form-action 'none'"
}

// RuleInfo is what the views show of a rule besides the alert's rule
// object (docs/alerts.md): from the rule file.
type RuleInfo struct {
	Description    string   `json:"description,omitempty"`
	Author         string   `json:"author,omitempty"`
	References     []string `json:"references,omitempty"`
	FalsePositives []string `json:"falsepositives,omitempty"`
}

// Page is what the page template shows besides the data.
type Page struct {
	// Mode is ModeReport or ModeConsole.
	Mode string
	// Title is the document title; Heading the text beside "vigil".
	Title, Heading string
	// CSRF is the console's anti-CSRF token of the signed-in session
	// (empty: not signed in); User the signed-in name.
	CSRF, User string
	// NoSignIn hides the console's sign-in form (nobody can sign in).
	NoSignIn bool
	// Gzip writes the data gzipped and base64-encoded; the script
	// decompresses it (DecompressionStream). A report's JSON shrinks about
	// tenfold: event fields repeat from alert to alert.
	Gzip bool
}

// sentinel stands for the data in the rendered template; WritePage cuts
// the output there and streams the data in between.
const sentinel = "VIGILDATA0c6f1e2a"

// WritePage writes the page to w. data writes the JSON document the script
// reads (gzipped and base64-encoded when p.Gzip is set); it must not write "<" (encoding/json's default HTML escaping turns
// it into \u003c), so that no "</script>" can end the data block early.
// WritePage checks that and fails rather than write a broken page.
func WritePage(w io.Writer, p Page, data func(io.Writer) error) error {
	var buf bytes.Buffer
	err := page.Execute(&buf, struct {
		Page
		CSP  string
		CSS  template.CSS
		JS   template.JS
		Data template.JS
	}{p, CSP(p.Mode), template.CSS(style), template.JS(script), template.JS(sentinel)})
	if err != nil {
		return err
	}
	head, tail, ok := strings.Cut(buf.String(), sentinel)
	if !ok {
		return errors.New("web: page template lost its data block")
	}
	if _, err := io.WriteString(w, head); err != nil {
		return err
	}
	if data != nil && p.Gzip {
		b64 := base64.NewEncoder(base64.StdEncoding, w)
		zw, _ := gzip.NewWriterLevel(b64, gzip.BestSpeed)
		if err := data(&ltGuard{w: zw}); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := b64.Close(); err != nil {
			return err
		}
	} else if data != nil {
		if err := data(&ltGuard{w: w}); err != nil {
			return err
		}
	} else if _, err := io.WriteString(w, "null"); err != nil {
		return err
	}
	_, err = io.WriteString(w, tail)
	return err
}

// ErrMarkup is returned when the data written into the page contains "<".
var ErrMarkup = errors.New("web: page data contains '<'")

// ltGuard passes writes through and fails on a '<'.
type ltGuard struct{ w io.Writer }

func (g *ltGuard) Write(b []byte) (int, error) {
	if bytes.IndexByte(b, '<') >= 0 {
		return 0, ErrMarkup
	}
	return g.w.Write(b)
}
