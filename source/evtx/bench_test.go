package evtx

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// benchFiles loads the largest corpus files (about 20 MB) into memory so
// that the benchmark measures parsing, not the disk.
func benchFiles(b *testing.B) (names []string, data [][]byte, total int64) {
	dir := corpusDir(b)
	type fi struct {
		path string
		size int64
	}
	var all []fi
	for _, sub := range []string{"evtx-attack-samples", "hayabusa-sample-evtx"} {
		filepath.Walk(filepath.Join(dir, sub), func(path string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() && filepath.Ext(path) == ".evtx" {
				all = append(all, fi{path, info.Size()})
			}
			return nil
		})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].size != all[j].size {
			return all[i].size > all[j].size
		}
		return all[i].path < all[j].path
	})
	for _, f := range all {
		if total > 20<<20 {
			break
		}
		buf, err := os.ReadFile(f.path)
		if err != nil {
			b.Fatal(err)
		}
		names = append(names, f.path)
		data = append(data, buf)
		total += int64(len(buf))
	}
	return names, data, total
}

func benchmarkReader(b *testing.B, workers int) {
	names, data, total := benchFiles(b)
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	records := 0
	for i := 0; i < b.N; i++ {
		for j, buf := range data {
			r, err := NewReader(bytes.NewReader(buf), int64(len(buf)), Options{Workers: workers, Name: names[j]})
			if err != nil {
				b.Fatal(err)
			}
			for {
				_, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				records++
			}
			r.Close()
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	// Throughput per CPU-second (user+system, includes GC) is robust to
	// other load on the machine; with one worker it is the per-core speed.
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(float64(total)*float64(b.N)/1e6/cpu, "MB/cpu-s")
	}
}

// BenchmarkReader1 parses the benchmark file set with one worker.
func BenchmarkReader1(b *testing.B) { benchmarkReader(b, 1) }

// BenchmarkReaderAll parses the benchmark file set with GOMAXPROCS workers.
func BenchmarkReaderAll(b *testing.B) { benchmarkReader(b, 0) }

// BenchmarkDense1 parses, with one worker, a 3.2 MB Security log whose 49
// chunks are all full (3,561 records, 36 fields each): the per-core speed
// on dense data, without the empty preallocated chunks of most files.
func BenchmarkDense1(b *testing.B) {
	path := filepath.Join(corpusDir(b), "hayabusa-sample-evtx", "DeepBlueCLI", "smb-password-guessing-security.evtx")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	records := 0
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)), Options{Workers: 1})
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			records++
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(float64(len(data))*float64(b.N)/1e6/cpu, "MB/cpu-s")
	}
}
