package evtx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand"
	"strings"
	"testing"
	"time"
)

func seedRecords(t *testing.T, data []byte) []*Record {
	t.Helper()
	recs, warns, err := readAllBytes(t, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		if !strings.Contains(w.Msg, "truncated chunk") {
			t.Errorf("unexpected warning on seed: %v", w)
		}
	}
	if len(recs) == 0 {
		t.Fatal("seed has no records")
	}
	return recs
}

func TestSeedsParse(t *testing.T) {
	for _, s := range loadSeeds(t) {
		recs := seedRecords(t, s)
		for _, r := range recs {
			if _, ok := r.Get("EventID"); !ok {
				t.Errorf("record %d has no EventID: %v", r.ID, r.Fields)
			}
			if r.Chunk != 0 || r.Offset < fileHeaderSize+chunkHeaderSize {
				t.Errorf("record %d: chunk %d offset %d", r.ID, r.Chunk, r.Offset)
			}
		}
	}
}

func TestNotEVTX(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("hello"), make([]byte, 100000), bytes.Repeat([]byte("ElfFilx\x00"), 10000)} {
		_, _, err := readAllBytes(t, data, 1)
		if !errors.Is(err, ErrNotEVTX) {
			t.Errorf("len %d: got %v, want ErrNotEVTX", len(data), err)
		}
	}
}

// TestTruncated cuts a real file at many lengths: the reader must never
// fail hard, and must return a prefix of the full record list.
func TestTruncated(t *testing.T) {
	for _, seed := range loadSeeds(t) {
		full := seedRecords(t, seed)
		for _, n := range []int{8, 128, 4095, 4096, 4100, 4096 + 511, 4096 + 512, 4096 + 600, 4096 + 5000, len(seed) / 2, len(seed) - 1} {
			if n > len(seed) {
				continue
			}
			recs, _, err := readAllBytes(t, seed[:n], 1)
			if err != nil && !errors.Is(err, ErrNotEVTX) {
				t.Fatalf("len %d: %v", n, err)
			}
			if len(recs) > len(full) {
				t.Fatalf("len %d: %d records, more than the full %d", n, len(recs), len(full))
			}
			for i, r := range recs {
				if r.ID != full[i].ID || len(r.Fields) != len(full[i].Fields) {
					t.Fatalf("len %d: record %d differs from the untruncated file", n, i)
				}
			}
		}
	}
}

// TestDirtyHeader: a header that claims zero chunks, is flagged dirty and
// has a bad CRC must not stop the chunks from being read.
func TestDirtyHeader(t *testing.T) {
	seed := loadSeeds(t)[0]
	full := seedRecords(t, seed)
	data := append([]byte(nil), seed...)
	binary.LittleEndian.PutUint16(data[42:], 0)     // number of chunks
	binary.LittleEndian.PutUint64(data[16:], 0)     // last chunk number
	binary.LittleEndian.PutUint32(data[120:], 1)    // dirty
	binary.LittleEndian.PutUint32(data[124:], 1234) // bad CRC
	recs, warns, err := readAllBytes(t, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(full) {
		t.Fatalf("got %d records, want %d", len(recs), len(full))
	}
	if len(warns) == 0 || warns[0].Chunk != -1 || !strings.Contains(warns[0].Msg, "CRC") {
		t.Fatalf("want a file header CRC warning first, got %v", warns)
	}
	// A zeroed file header signature is tolerated when the first chunk is valid.
	copy(data, make([]byte, 8))
	if recs, _, err = readAllBytes(t, data, 1); err != nil || len(recs) != len(full) {
		t.Fatalf("zeroed signature: %d records, %v", len(recs), err)
	}
}

// TestZeroedChunk: a zero-filled (preallocated) chunk yields nothing and no
// warning; chunks after it are still read.
func TestZeroedChunk(t *testing.T) {
	seed := loadSeeds(t)[0]
	full := seedRecords(t, seed)
	chunk := make([]byte, chunkSize)
	copy(chunk, seed[fileHeaderSize:])
	data := append(append(append([]byte(nil), seed[:fileHeaderSize]...), make([]byte, chunkSize)...), chunk...)
	recs, warns, err := readAllBytes(t, data, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(full) || recs[0].Chunk != 1 {
		t.Fatalf("got %d records (first in chunk %d), want %d in chunk 1", len(recs), recs[0].Chunk, len(full))
	}
	if len(warns) != 0 {
		t.Fatalf("unexpected warnings: %v", warns)
	}
}

// TestCorruptRecord breaks one record's trailing size copy: the reader
// warns with the chunk and offset and goes on with the following records.
func TestCorruptRecord(t *testing.T) {
	seed := loadSeeds(t)[0]
	full := seedRecords(t, seed)
	if len(full) < 3 {
		t.Skip("seed too small")
	}
	data := append([]byte(nil), seed...)
	off := full[1].Offset
	size := binary.LittleEndian.Uint32(data[off+4:])
	binary.LittleEndian.PutUint32(data[off+int64(size)-4:], 7)
	recs, warns, err := readAllBytes(t, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(full)-1 {
		t.Fatalf("got %d records, want %d", len(recs), len(full)-1)
	}
	found := false
	for _, w := range warns {
		if w.Chunk == 0 && w.Offset == off && w.File == "mem" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no warning naming chunk 0 offset %#x: %v", off, warns)
	}
}

// TestBadCRC: checksum mismatches are warnings, not errors.
func TestBadCRC(t *testing.T) {
	seed := loadSeeds(t)[0]
	full := seedRecords(t, seed)
	data := append([]byte(nil), seed...)
	data[fileHeaderSize+124] ^= 0xff // chunk header CRC
	data[fileHeaderSize+52] ^= 0xff  // records CRC
	// Pad the chunk so that the records CRC is checked.
	data = append(data, make([]byte, fileHeaderSize+chunkSize-len(data))...)
	recs, warns, err := readAllBytes(t, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(full) {
		t.Fatalf("got %d records, want %d", len(recs), len(full))
	}
	n := 0
	for _, w := range warns {
		if strings.Contains(w.Msg, "CRC") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("want 2 CRC warnings, got %v", warns)
	}
}

// fixCRCs recomputes the chunk header CRC so that mutations reach the
// record parser instead of only triggering checksum warnings.
func fixCRCs(chunk []byte) {
	if len(chunk) < chunkHeaderSize {
		return
	}
	crc := crc32.Update(crc32.ChecksumIEEE(chunk[:120]), crc32.IEEETable, chunk[128:512])
	binary.LittleEndian.PutUint32(chunk[124:], crc)
}

// TestBitFlips mutates real data at random and checks that the reader
// neither panics nor hangs.
func TestBitFlips(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	seeds := loadSeeds(t)
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < iters && time.Now().Before(deadline); i++ {
		seed := seeds[i%len(seeds)]
		data := append([]byte(nil), seed...)
		for n := 1 + rng.Intn(8); n > 0; n-- {
			// Bias mutations towards the BinXML area.
			pos := fileHeaderSize + chunkHeaderSize + rng.Intn(len(data)-fileHeaderSize-chunkHeaderSize)
			if rng.Intn(8) == 0 {
				pos = rng.Intn(len(data))
			}
			switch rng.Intn(3) {
			case 0:
				data[pos] ^= 1 << uint(rng.Intn(8))
			case 1:
				data[pos] = byte(rng.Intn(256))
			case 2:
				data[pos] = []byte{0x00, 0x01, 0x41, 0x0c, 0x0d, 0x0e, 0x0f, 0xff}[rng.Intn(8)]
			}
		}
		fixCRCs(data[fileHeaderSize:])
		_, _, err := readAllBytes(t, data, 1+i%2)
		if err != nil && !errors.Is(err, ErrNotEVTX) {
			t.Fatalf("iteration %d: %v", i, err)
		}
	}
}

// TestOversized appends garbage and a corrupt copy of a chunk: the real
// records still come out, with warnings for the damaged chunks.
func TestOversized(t *testing.T) {
	seed := loadSeeds(t)[1]
	full := seedRecords(t, seed)
	chunk := make([]byte, chunkSize)
	copy(chunk, seed[fileHeaderSize:])
	rng := rand.New(rand.NewSource(2))
	garbage := make([]byte, chunkSize)
	rng.Read(garbage)
	bad := append([]byte(nil), chunk...)
	rng.Read(bad[chunkHeaderSize+100 : chunkHeaderSize+400])
	data := append(append([]byte(nil), seed[:fileHeaderSize]...), chunk...)
	data = append(data, garbage...)
	data = append(data, bad...)
	data = append(data, garbage[:1000]...)
	recs, warns, err := readAllBytes(t, data, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < len(full) {
		t.Fatalf("got %d records, want at least %d", len(recs), len(full))
	}
	for i := range full {
		if recs[i].ID != full[i].ID {
			t.Fatalf("record %d: ID %d, want %d", i, recs[i].ID, full[i].ID)
		}
	}
	chunks := map[int]bool{}
	for _, w := range warns {
		chunks[w.Chunk] = true
	}
	if !chunks[1] || !chunks[2] || !chunks[3] {
		t.Fatalf("want warnings for chunks 1-3, got %v", warns)
	}
}

// TestWorkersSameOutput checks that parallel parsing keeps file order.
func TestWorkersSameOutput(t *testing.T) {
	var data []byte
	seeds := loadSeeds(t)
	data = append(data, seeds[0][:fileHeaderSize]...)
	for i := 0; i < 12; i++ {
		chunk := make([]byte, chunkSize)
		copy(chunk, seeds[i%len(seeds)][fileHeaderSize:])
		data = append(data, chunk...)
	}
	one, _, err := readAllBytes(t, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{2, 3, 8} {
		many, _, err := readAllBytes(t, data, w)
		if err != nil {
			t.Fatal(err)
		}
		if len(many) != len(one) {
			t.Fatalf("workers %d: %d records, want %d", w, len(many), len(one))
		}
		for i := range one {
			if one[i].ID != many[i].ID || one[i].Chunk != many[i].Chunk || one[i].Offset != many[i].Offset || len(one[i].Fields) != len(many[i].Fields) {
				t.Fatalf("workers %d: record %d differs", w, i)
			}
			for j := range one[i].Fields {
				if one[i].Fields[j] != many[i].Fields[j] {
					t.Fatalf("workers %d: record %d field %d differs", w, i, j)
				}
			}
		}
	}
}

// TestEarlyClose stops reading half-way; Close must not hang or leak.
func TestEarlyClose(t *testing.T) {
	seed := loadSeeds(t)[0]
	var data []byte
	data = append(data, seed[:fileHeaderSize]...)
	for i := 0; i < 20; i++ {
		chunk := make([]byte, chunkSize)
		copy(chunk, seed[fileHeaderSize:])
		data = append(data, chunk...)
	}
	r, err := NewReader(bytes.NewReader(data), int64(len(data)), Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStaleFreeSpace: a chunk header whose free space offset lags behind the
// records (dirty file) still yields the records that continue the sequence,
// while slack records with unrelated identifiers are ignored.
func TestStaleFreeSpace(t *testing.T) {
	seed := loadSeeds(t)[0]
	full := seedRecords(t, seed)
	data := append([]byte(nil), seed...)
	data = append(data, make([]byte, fileHeaderSize+chunkSize-len(data))...)
	chunk := data[fileHeaderSize:]
	stale := int(full[len(full)/2].Offset - fileHeaderSize)
	binary.LittleEndian.PutUint32(chunk[48:], uint32(stale))
	binary.LittleEndian.PutUint32(chunk[52:], crc32.ChecksumIEEE(chunk[chunkHeaderSize:stale]))
	fixCRCs(chunk)
	recs, warns, err := readAllBytes(t, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(full) {
		t.Fatalf("got %d records, want %d", len(recs), len(full))
	}
	if len(warns) != 1 || !strings.Contains(warns[0].Msg, "stale chunk header") {
		t.Fatalf("want one stale header warning, got %v", warns)
	}
	// Renumber the records past the free space offset: they are slack now.
	for _, r := range full[len(full)/2:] {
		off := r.Offset - fileHeaderSize
		binary.LittleEndian.PutUint64(chunk[off+8:], r.ID+1000)
	}
	recs, warns, err = readAllBytes(t, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(full)/2 || len(warns) != 0 {
		t.Fatalf("slack: got %d records (want %d) and warnings %v", len(recs), len(full)/2, warns)
	}
}
