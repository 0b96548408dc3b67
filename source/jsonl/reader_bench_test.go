package jsonl

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchInput is n events as JSON Lines or as a pretty-printed array.
func benchInput(n int, pretty bool) []byte {
	var b bytes.Buffer
	if pretty {
		b.WriteString("[\n")
	}
	for i := range n {
		if pretty {
			if i > 0 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, "  {\n    \"EventID\": 1,\n    \"Computer\": \"host-%d.corp.example\",\n    \"Image\": \"C:\\\\Windows\\\\System32\\\\cmd.exe\",\n    \"CommandLine\": \"cmd.exe /c echo %d\",\n    \"EventData\": {\n      \"User\": \"CORP\\\\bob\"\n    }\n  }", i, i)
		} else {
			fmt.Fprintf(&b, "{\"EventID\":1,\"Computer\":\"host-%d.corp.example\",\"Image\":\"C:\\\\Windows\\\\System32\\\\cmd.exe\",\"CommandLine\":\"cmd.exe /c echo %d\",\"EventData\":{\"User\":\"CORP\\\\bob\"}}\n", i, i)
		}
	}
	if pretty {
		b.WriteString("\n]\n")
	}
	return b.Bytes()
}

func benchmarkReader(b *testing.B, pretty bool) {
	data := benchInput(20000, pretty)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(data), "bench", nil)
		n := 0
		for {
			_, _, err := r.ReadRecord()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 20000 {
			b.Fatalf("%d records", n)
		}
	}
}

// BenchmarkReaderLines splits JSON Lines into records.
func BenchmarkReaderLines(b *testing.B) { benchmarkReader(b, false) }

// BenchmarkReaderPretty splits a pretty-printed JSON array into records.
func BenchmarkReaderPretty(b *testing.B) { benchmarkReader(b, true) }
