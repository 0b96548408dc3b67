// Package corpus locates the shared test corpus (SigmaHQ rules, EVTX
// samples, OTRF logs) for tests and benchmarks.
//
// The corpus is found through the VIGIL_CORPUS environment variable or at
// ../shared/corpus beside the repository. Tests that need it skip with a
// clear message when it is absent, except under CI (the CI environment
// variable is set), where a missing corpus is a failure.
package corpus

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the corpus folder, or "" when it cannot be found.
func Dir() string {
	if d := os.Getenv("VIGIL_CORPUS"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			abs, _ := filepath.Abs(d)
			return abs
		}
		return ""
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	// file is <repo>/internal/corpus/corpus.go
	repo := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	d := filepath.Join(repo, "..", "shared", "corpus")
	if st, err := os.Stat(d); err == nil && st.IsDir() {
		return filepath.Clean(d)
	}
	return ""
}

// Require returns the corpus folder joined with elem, skipping the test
// when the corpus is absent, or failing it when CI is set.
func Require(tb testing.TB, elem ...string) string {
	tb.Helper()
	d := Dir()
	if d == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("shared corpus not found (set VIGIL_CORPUS or place it at ../shared/corpus); it is required under CI")
		}
		tb.Skip("shared corpus not found (set VIGIL_CORPUS or place it at ../shared/corpus); skipping")
	}
	p := filepath.Join(append([]string{d}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("corpus path %s missing: %v", p, err)
		}
		tb.Skipf("corpus path %s missing: %v", p, err)
	}
	return p
}
