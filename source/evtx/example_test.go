package evtx_test

import (
	"fmt"
	"io"
	"log"

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
