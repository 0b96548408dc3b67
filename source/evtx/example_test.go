package evtx_test

import (
	"compress/gzip"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/vigil-detect/vigil/source/evtx"
)

// Reading a file record by record. Records come back in file order; the
// *Record is reused by the next call to Next (use Clone to keep it), while
// the field strings may be kept as they are.
func ExampleOpen() {
	r, err := evtx.Open("Security.evtx", evtx.Options{
		Warn: func(w evtx.Warning) { log.Println(w) }, // damaged chunks and records
	})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		id, _ := rec.Get("EventID")
		user, _ := rec.Get("TargetUserName")
		fmt.Println(rec.ID, rec.Written, id, user)
	}
}

// Reading gzipped EVTX as it is decompressed, chunk by chunk, without
// holding the decompressed file in memory (standard input and pipes are
// read the same way).
func ExampleNewStreamReader() {
	f, err := os.Open("Security.evtx.gz")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
	r, err := evtx.NewStreamReader(zr, evtx.Options{Name: "Security.evtx.gz"})
	if err != nil {
		log.Fatal(err) // evtx.ErrNotEVTX when the content is not EVTX
	}
	defer r.Close()
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	fmt.Println(n, "records")
}
