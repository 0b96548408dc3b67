package evtx

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// TestDumpAll writes one JSON line per record ({"file":..,"id":..,"fields":[[name,value],...]})
// for every .evtx file under EVTX_DUMPALL_SRC into EVTX_DUMPALL (a
// debugging aid used to diff against reference tools).
func TestDumpAll(t *testing.T) {
	src, dst := os.Getenv("EVTX_DUMPALL_SRC"), os.Getenv("EVTX_DUMPALL")
	if src == "" || dst == "" {
		t.Skip("EVTX_DUMPALL_SRC/EVTX_DUMPALL not set")
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	enc := json.NewEncoder(out)
	filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".evtx") {
			return nil
		}
		recs, _, err := ReadAll(path, Options{})
		if err != nil {
			t.Logf("%s: %v", path, err)
			return nil
		}
		rel, _ := filepath.Rel(src, path)
		for _, r := range recs {
			fl := make([][2]string, len(r.Fields))
			for i, f := range r.Fields {
				fl[i] = [2]string{f.Name, f.Value}
			}
			enc.Encode(map[string]any{"file": rel, "id": r.ID, "fields": fl})
		}
		return nil
	})
}
