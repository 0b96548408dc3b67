package web_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/attack"
	"github.com/vigil-detect/vigil/web"
)

func render(t *testing.T, p web.Page, data string) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	err := web.WritePage(&buf, p, func(w io.Writer) error {
		_, err := io.WriteString(w, data)
		return err
	})
	return buf.String(), err
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// TestCSPHashes: the policy allows exactly the inline script and style the
// page carries, and nothing else runs or loads.
func TestCSPHashes(t *testing.T) {
	for _, mode := range []string{web.ModeReport, web.ModeConsole} {
		page, err := render(t, web.Page{Mode: mode, Title: "t"}, `{"a":1}`)
		if err != nil {
			t.Fatal(err)
		}
		scripts := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(page, -1)
		styles := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(page, -1)
		if len(scripts) != 1 || len(styles) != 1 {
			t.Fatalf("%s: %d inline scripts, %d styles, want 1 and 1", mode, len(scripts), len(styles))
		}
		csp := web.CSP(mode)
		for _, want := range []string{"default-src 'none'", "script-src " + hashOf(scripts[0][1]) + ";",
			"style-src " + hashOf(styles[0][1]) + ";", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", mode, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q allows unsafe sources", mode, csp)
		}
		if !strings.Contains(page, `http-equiv="Content-Security-Policy"`) {
			t.Errorf("%s: no CSP meta element", mode)
		}
		// Values go in with textContent; handlers with addEventListener.
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute(\"on"} {
			if strings.Contains(scripts[0][1], bad) {
				t.Errorf("the script uses %s", bad)
			}
		}
		if regexp.MustCompile(`<[a-z]+[^>]*\son[a-z]+=`).MatchString(page) {
			t.Errorf("%s: the page has an inline event handler", mode)
		}
	}
}

func TestDataCannotCloseTheBlock(t *testing.T) {
	if _, err := render(t, web.Page{Mode: web.ModeReport}, `{"a":"</script><script>alert(1)</script>"}`); !errors.Is(err, web.ErrMarkup) {
		t.Errorf("data with '<' written: err %v, want ErrMarkup", err)
	}
	page, err := render(t, web.Page{Mode: web.ModeReport, Gzip: true, Title: `</title><script>alert(1)</script>`}, `{"a":"\u003c/script\u003e"}`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(page, "<script") != 2 || strings.Contains(page, "<script>alert") {
		t.Errorf("the title or the data reached the page as markup")
	}
}

// TestAttackTable: the script carries vigil's ATT&CK table in place of its
// token.
func TestAttackTable(t *testing.T) {
	page, err := render(t, web.Page{Mode: web.ModeReport}, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(map[string]string{"T1059.003": attack.TechniqueName("T1059.003")})
	if strings.Contains(page, "VIGIL_ATTACK_TABLE") || !strings.Contains(page, strings.Trim(string(want), "{}")) {
		t.Errorf("the page's script lacks the ATT&CK table or keeps its token")
	}
}
