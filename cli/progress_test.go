package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/hunt"
)

func TestProgressLine(t *testing.T) {
	p := &hunt.Progress{}
	io.Copy(io.Discard, p.CountReader(bytes.NewReader(make([]byte, 25<<20))))
	b := newProgressBar(io.Discard, 100<<20, p, alert.NewTally(), 100)
	got := b.line(10 * time.Second)
	for _, want := range []string{"#.", "]  25%", "25.0 MiB/100.0 MiB", "0 events/s", "0 alerts", "ETA 0:30"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
	if n := len([]rune(got)); n >= 100 {
		t.Errorf("line %d wide, terminal 100: %q", n, got)
	}
	narrow := newProgressBar(io.Discard, 100<<20, p, alert.NewTally(), 40).line(10 * time.Second)
	if strings.Contains(narrow, "[") || !strings.Contains(narrow, "25%") {
		t.Errorf("narrow terminal: %q", narrow)
	}
}
