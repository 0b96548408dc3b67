package evtx

import (
	"fmt"
	"io"
	"os"
	"testing"
)

// TestDump prints the records of the file named by EVTX_DUMP (a debugging
// aid: go test -run TestDump ./source/evtx/ with EVTX_DUMP=path.evtx).
func TestDump(t *testing.T) {
	path := os.Getenv("EVTX_DUMP")
	if path == "" {
		t.Skip("EVTX_DUMP not set")
	}
	r, err := Open(path, Options{Workers: 1, Warn: func(w Warning) { fmt.Println("WARNING:", w) }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("record %d chunk %d offset %#x written %s\n", rec.ID, rec.Chunk, rec.Offset, rec.Written.Format("2006-01-02T15:04:05.0000000Z"))
		for _, f := range rec.Fields {
			fmt.Printf("  %s = %q\n", f.Name, f.Value)
		}
	}
}
