package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-detect/vigil/internal/corpus"
)

// BenchmarkHost measures finding the host of the corpus's OTRF host
// events, the work ingest does per event before storing it.
func BenchmarkHost(b *testing.B) {
	dir := corpus.Require(b, "otrf")
	files, err := filepath.Glob(filepath.Join(dir, "*", "host", "*.json"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no OTRF host files in %s: %v", dir, err)
	}
	var lines [][]byte
	size := 0
	for _, f := range files[:min(len(files), 20)] {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines = append(lines, l)
				size += len(l)
			}
		}
	}
	h := newHostReader()
	b.SetBytes(int64(size / len(lines)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := h.host(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
}
