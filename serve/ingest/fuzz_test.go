package ingest

import (
	"bytes"
	"testing"

	"github.com/vigil-detect/vigil/serve/partition"
)

// FuzzReadRecords feeds arbitrary bodies to the request parser: it must
// not panic, and every event it keeps must be one line that vigil's event
// decoder reads as an object of the host whose subject holds it, or of a
// host of the partition whose mixed subject does.
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
		msgs, _ := b.messages()
		for _, m := range msgs {
			p, ok := partition.Parse(m.Subject, 16)
			if !ok {
				t.Fatalf("subject %q is not a partition subject", m.Subject)
			}
			mixed := m.Subject == partition.MixedSubject(p)
			for _, l := range bytes.Split(bytes.TrimSuffix(m.Data, []byte("\n")), []byte("\n")) {
				host, err := hr.host(l)
				if err != nil {
					t.Fatalf("stored line %q does not decode: %v", l, err)
				}
				if mixed && partition.Of(host, 16) != p {
					t.Fatalf("line of host %q stored on %s, partition %d", host, m.Subject, partition.Of(host, 16))
				}
				if s := partition.Subject(host, 16); !mixed && s != m.Subject {
					t.Fatalf("line of host %q stored on %s, want %s", host, m.Subject, s)
				}
				kept++
			}
		}
		if kept != b.Len() {
			t.Fatalf("%d lines stored, %d events counted", kept, b.Len())
		}
	})
}
