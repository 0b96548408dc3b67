package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/internal/corpus"
)

func gzipFile(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src)+".gz")
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func huntLines(t *testing.T, stdin string, args ...string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"hunt", "--quiet", "--format", "jsonl"}, args...),
		Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

// TestHuntGzip hunts gzipped JSON and EVTX, from a file and from stdin,
// and requires the same alerts as the plain inputs.
func TestHuntGzip(t *testing.T) {
	plain := huntLines(t, "", "--rules", "../testdata/example/rules", "../testdata/example/events.jsonl")
	gz := gzipFile(t, "../testdata/example/events.jsonl")
	if got := huntLines(t, "", "--rules", "../testdata/example/rules", gz); len(got) != len(plain) || len(got) != 2 {
		t.Errorf("gzipped JSON: %d alerts, plain %d", len(got), len(plain))
	}
	data, _ := os.ReadFile(gz)
	if got := huntLines(t, string(data), "--rules", "../testdata/example/rules", "-"); len(got) != len(plain) {
		t.Errorf("gzipped JSON on stdin: %d alerts, plain %d", len(got), len(plain))
	}

	sample := filepath.Join(corpus.Require(t, "evtx-attack-samples"), "Execution", "exec_sysmon_1_ftp.evtx")
	rules := corpus.Require(t, "sigma", "rules", "windows", "process_creation")
	want := huntLines(t, "", "--rules", rules, sample)
	if got := huntLines(t, "", "--rules", rules, gzipFile(t, sample)); len(got) != len(want) || want[0] == "" {
		t.Errorf("gzipped EVTX: %d alerts, plain %d", len(got), len(want))
	}
}
