package evtx

import (
	"io"
	"runtime"
	"testing"
)

// repeatedChunks is a virtual EVTX file: one header followed by the same
// chunk n times, produced on the fly.
type repeatedChunks struct {
	header, chunk []byte
	n             int
}

func (r *repeatedChunks) size() int64 { return int64(fileHeaderSize) + int64(r.n)*chunkSize }

func (r *repeatedChunks) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for len(p) > 0 {
		if off >= r.size() {
			return n, io.EOF
		}
		var src []byte
		if off < fileHeaderSize {
			src = r.header[off:]
		} else {
			src = r.chunk[(off-fileHeaderSize)%chunkSize:]
		}
		c := copy(p, src)
		p, off, n = p[c:], off+int64(c), n+c
	}
	return n, nil
}

// TestMemoryFlat reads a large virtual file and checks that the heap does
// not grow with the file size.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	src := repeatedSeed(t)
	r, err := NewReader(src, src.size(), Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkHeapFlat(t, r, src.size())
}

// repeatedSeed is 250 MiB of EVTX: the header of the second seed file and
// its first chunk repeated 4000 times.
func repeatedSeed(t *testing.T) *repeatedChunks {
	t.Helper()
	seed := loadSeeds(t)[1]
	chunk := make([]byte, chunkSize)
	copy(chunk, seed[fileHeaderSize:])
	return &repeatedChunks{header: seed[:fileHeaderSize], chunk: chunk, n: 4000}
}

// checkHeapFlat reads r to the end and fails when the heap in use, sampled
// every 5000 records, ever exceeds 64 MiB.
func checkHeapFlat(t *testing.T, r *Reader, size int64) {
	t.Helper()
	var ms runtime.MemStats
	var peak uint64
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n%5000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	t.Logf("%d records from %d MiB, peak heap in use %.1f MiB", n, size>>20, float64(peak)/(1<<20))
	if peak > 64<<20 {
		t.Fatalf("heap grew to %d MiB", peak>>20)
	}
}
