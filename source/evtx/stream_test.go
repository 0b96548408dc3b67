package evtx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"
)

// multiChunk is a file of n copies of a seed's chunk whose header
// announces announced chunks, with a valid header CRC.
func multiChunk(seed []byte, n, announced int) []byte {
	chunk := make([]byte, chunkSize)
	copy(chunk, seed[fileHeaderSize:])
	data := append([]byte(nil), seed[:fileHeaderSize]...)
	for range n {
		data = append(data, chunk...)
	}
	binary.LittleEndian.PutUint16(data[42:], uint16(announced))
	binary.LittleEndian.PutUint64(data[16:], uint64(announced-1))
	binary.LittleEndian.PutUint32(data[124:], crc32.ChecksumIEEE(data[:120]))
	return data
}

// readStream is readAllBytes through NewStreamReader, the data handed
// over in small reads as a pipe would.
func readStream(tb testing.TB, data []byte, workers int) ([]*Record, []Warning, error) {
	return readWith(workers, func(o Options) (*Reader, error) {
		return NewStreamReader(io.LimitReader(&smallReads{data: data}, int64(len(data))), o)
	})
}

// smallReads returns at most 1000 bytes per Read.
type smallReads struct{ data []byte }

func (s *smallReads) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 1000)], s.data)
	s.data = s.data[n:]
	return n, nil
}

func sameRecords(a, b []*Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Offset != b[i].Offset || len(a[i].Fields) != len(b[i].Fields) {
			return false
		}
		for j := range a[i].Fields {
			if a[i].Fields[j] != b[i].Fields[j] {
				return false
			}
		}
	}
	return true
}

func warningText(ws []Warning) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String() + "\n")
	}
	return b.String()
}

// TestStreamSameAsReaderAt: reading a stream gives the records and
// warnings of reading the same bytes at random, whole, cut, damaged, with
// one worker or several.
func TestStreamSameAsReaderAt(t *testing.T) {
	var inputs [][]byte
	for _, seed := range loadSeeds(t) {
		inputs = append(inputs, seed, multiChunk(seed, 5, 5), seed[:len(seed)/2], seed[:fileHeaderSize+100])
		bad := multiChunk(seed, 3, 3)
		copy(bad, "XXXXXXXX") // damaged file header signature
		inputs = append(inputs, bad)
		flipped := multiChunk(seed, 3, 3)
		flipped[fileHeaderSize+chunkSize+3000] ^= 0xff
		inputs = append(inputs, flipped)
	}
	inputs = append(inputs, syntheticFile(100), []byte("ElfFile\x00"), []byte("not evtx at all"))
	for i, data := range inputs {
		for _, workers := range []int{1, 3} {
			want, wantWarn, wantErr := readAllBytes(t, data, workers)
			got, gotWarn, gotErr := readStream(t, data, workers)
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("input %d, %d workers: error %v, want %v", i, workers, gotErr, wantErr)
			}
			if !sameRecords(got, want) {
				t.Fatalf("input %d, %d workers: %d records differ from the %d read at random", i, workers, len(got), len(want))
			}
			if g, w := warningText(gotWarn), warningText(wantWarn); g != w {
				t.Fatalf("input %d, %d workers: warnings\n%s\nwant\n%s", i, workers, g, w)
			}
		}
	}
}

// TestMissingChunks: a file cut at a chunk boundary is reported with the
// number of chunks missing, read at random or as a stream.
func TestMissingChunks(t *testing.T) {
	seed := loadSeeds(t)[0]
	data := multiChunk(seed, 4, 8)
	for name, read := range map[string]func(testing.TB, []byte, int) ([]*Record, []Warning, error){"random": readAllBytes, "stream": readStream} {
		recs, warns, err := read(t, data, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := 4 * len(seedRecords(t, seed)); len(recs) != want {
			t.Fatalf("%s: %d records, want %d", name, len(recs), want)
		}
		if w := warningText(warns); !strings.Contains(w, "file ends after 4 chunks, the header announces 8: 4 chunks missing") {
			t.Fatalf("%s: no missing-chunk warning in %q", name, w)
		}
	}
	// A complete file has no such warning.
	if _, warns, _ := readStream(t, multiChunk(seed, 4, 4), 2); len(warns) != 0 {
		t.Fatalf("complete file: %s", warningText(warns))
	}
}

// TestStreamMemoryFlat reads 250 MiB of EVTX as a stream (a decompressor
// or standard input): the heap must not grow with the size of the data.
func TestStreamMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	src := repeatedSeed(t)
	r, err := NewStreamReader(io.NewSectionReader(src, 0, src.size()), Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkHeapFlat(t, r, src.size())
}

func TestIsEVTX(t *testing.T) {
	seed := loadSeeds(t)[0]
	bad := append([]byte(nil), seed...)
	copy(bad, "XXXXXXXX")
	for _, tt := range []struct {
		head []byte
		want bool
	}{{seed, true}, {bad, true}, {bad[:SniffLen-1], false}, {[]byte("{}"), false}, {bytes.Repeat([]byte{0}, SniffLen), false}} {
		if got := IsEVTX(tt.head); got != tt.want {
			t.Errorf("IsEVTX(%q...) = %v", tt.head[:min(8, len(tt.head))], got)
		}
	}
}

// TestStreamEarlyClose stops reading a stream half-way, and reads a
// stream that fails: Close must not hang, and the read error surfaces.
func TestStreamEarlyClose(t *testing.T) {
	data := multiChunk(loadSeeds(t)[0], 20, 20)
	for _, workers := range []int{1, 4} {
		r, err := NewStreamReader(bytes.NewReader(data), Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		failing := io.MultiReader(bytes.NewReader(data[:fileHeaderSize+3*chunkSize]), iotestErrReader{})
		r, err = NewStreamReader(failing, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		var rerr error
		for rerr == nil {
			_, rerr = r.Next()
		}
		if rerr == io.EOF || !strings.Contains(rerr.Error(), "reading chunk 3: disk on fire") {
			t.Errorf("%d workers: error %v, want the read error of chunk 3", workers, rerr)
		}
		r.Close()
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }
