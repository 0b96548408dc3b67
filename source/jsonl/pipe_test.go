package jsonl

import (
	"io"
	"testing"
	"time"
)

// TestReaderPipe: a record is returned as soon as its line has arrived,
// not once the reader's look-ahead is full (vigil serve reads standard
// input from live pipes).
func TestReaderPipe(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	r := NewReader(pr, "pipe", nil)
	got := make(chan string, 2)
	go func() {
		for {
			rec, _, err := r.ReadRecord()
			if err != nil {
				close(got)
				return
			}
			got <- string(rec)
		}
	}()
	for _, line := range []string{`{"a":1}`, `{"b":2}`} {
		if _, err := io.WriteString(pw, line+"\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case rec := <-got:
			if rec != line {
				t.Errorf("got %q, want %q", rec, line)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s not returned while the pipe stays open", line)
		}
	}
}
