// Package browser starts a real headless Chromium (Debian's chromium
// package) for vigil's browser tests of the HTML report and the live
// console, driven with chromedp, and records what the page did that a test
// must check: JavaScript dialogs opened (alert(1) from an injected
// script), network requests made, uncaught exceptions and console errors
// (a Content-Security-Policy violation is reported there).
//
// Tests skip with a clear message when no Chromium is installed, except
// under CI (the CI environment variable is set), where that is a failure:
// .ci/run installs it.
package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Path returns the Chromium binary: $VIGIL_CHROMIUM, /usr/bin/chromium, or
// chromium or chromium-browser on the PATH; "" when there is none.
func Path() string {
	if p := os.Getenv("VIGIL_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// Browser is one headless Chromium with one tab, and what it saw.
type Browser struct {
	// Ctx runs chromedp actions in the tab; it ends with the test or
	// the timeout given to Start.
	Ctx context.Context

	mu         sync.Mutex
	dialogs    []string
	requests   []string
	exceptions []string
}

// Start launches Chromium for the test with a fresh profile and a
// deadline; it is stopped when the test ends.
func Start(tb testing.TB, timeout time.Duration) *Browser {
	tb.Helper()
	bin := Path()
	if bin == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("chromium not found (apt-get install chromium, or set VIGIL_CHROMIUM); it is required under CI")
		}
		tb.Skip("chromium not found (apt-get install chromium, or set VIGIL_CHROMIUM); skipping the browser test")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(tb.TempDir(), "profile")),
		chromedp.WindowSize(1400, 1000),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	b := &Browser{}
	var bctx context.Context
	var cancelBrowser context.CancelFunc
	bctx, cancelBrowser = chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		// Runs on the tab's reading goroutine: record and return.
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			go func() {
				// A dialog blocks the page: dismiss it, so the test
				// goes on and reports it.
				_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request.URL)
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.exceptions = append(b.exceptions, "exception: "+msg)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				b.exceptions = append(b.exceptions, string(ev.Entry.Source)+": "+ev.Entry.Text)
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value))
				}
				b.exceptions = append(b.exceptions, "console.error: "+strings.Join(parts, " "))
			}
		}
	}))
	b.Ctx = bctx
	tb.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(bctx); err != nil {
		tb.Fatalf("starting chromium %s: %v", bin, err)
	}
	return b
}

// Do runs actions in the tab.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) error {
	return chromedp.Do(b.Ctx, actions...)
}

// Eval evaluates a JavaScript expression in the page and decodes its value.
func Eval[T any](b *Browser, expr string) (T, error) {
	return chromedp.Run(b.Ctx, chromedp.Evaluate[T](expr))
}

// Dialogs are the JavaScript dialogs opened so far ("alert: 1").
func (b *Browser) Dialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string{}, b.dialogs...)
}

// Requests are the URLs of every request the tab made so far.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string{}, b.requests...)
}

// Errors are the uncaught exceptions and console errors so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string{}, b.exceptions...)
}

// Screenshot captures the viewport as PNG. It is written to the test's
// temporary folder and, when $VIGIL_SCREENSHOTS names a folder (docs, to
// refresh the README's pictures), there too, as name.
func (b *Browser) Screenshot(tb testing.TB, name string, sel string) {
	tb.Helper()
	act := chromedp.CaptureScreenshot()
	if sel != "" {
		act = chromedp.Screenshot(chromedp.CSS(sel))
	}
	png, err := chromedp.Run(b.Ctx, act)
	if err != nil {
		tb.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{tb.TempDir()}
	if d := os.Getenv("VIGIL_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name), png, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// NodeCount returns the number of elements matching a CSS selector.
func (b *Browser) NodeCount(sel string) (int, error) {
	return Eval[int](b, `document.querySelectorAll(`+Quote(sel)+`).length`)
}

// Text returns the textContent of the first element matching a CSS
// selector ("" when there is none).
func (b *Browser) Text(sel string) (string, error) {
	return Eval[string](b, `(function(){var e=document.querySelector(`+Quote(sel)+`);return e?e.textContent:""})()`)
}

// Quote makes a JavaScript string literal of s.
func Quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "<", `\u003c`)
	return `"` + r.Replace(s) + `"`
}
