package ingest

import (
	"bytes"
	"testing"

	"github.com/vigil-detect/vigil/serve/partition"
)

// FuzzReadRecords feeds arbitrary bodies to the request parser: it must
// not panic, and every event it keeps must be one line that vigil's event
// decoder reads as an object of the host whose partition subject holds it.
func FuzzReadRecords(f *testing.F) {
	for _, s := range []string{
		evA1 + "\n" + evB1 + "\n",
		"[" + evA1 + ",\n" + evB1 + "]",
		"{\"a\":\n1}\n{bad\n[1]\n",
		"{\"Computer\":\"x\\u00e9\",\"n\":[1,{\"b\":null}]}",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p := &Publisher{partitions: 16, maxMessage: 4096}
		b := p.NewBatch()
		_, nrej, err := b.readRecords(newHostReader(), bytes.NewReader(body), "fuzz")
		if err != nil {
			return
		}
		if nrej < 0 {
			t.Fatal("negative rejected count")
		}
		kept := 0
		hr := newHostReader()
		check := func(subject string, data []byte) {
			if _, ok := partition.Parse(subject, 16); !ok {
				t.Fatalf("subject %q is not a partition subject", subject)
			}
			for _, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
				host, err := hr.host(l)
				if err != nil {
					t.Fatalf("stored line %q does not decode: %v", l, err)
				}
				if s := partition.Subject(host, 16); s != subject {
					t.Fatalf("line of host %q stored on %s, want %s", host, subject, s)
				}
				kept++
			}
		}
		for _, m := range b.msgs {
			check(m.Subject, m.Data)
		}
		for _, g := range b.order {
			if g.n > 0 {
				check(g.subject, g.buf)
			}
		}
		if kept != b.Len() {
			t.Fatalf("%d lines stored, %d events counted", kept, b.Len())
		}
	})
}
