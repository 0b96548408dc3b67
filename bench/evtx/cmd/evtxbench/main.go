// Command evtxbench compares the throughput of vigil's EVTX reader
// (github.com/vigil-detect/vigil/source/evtx) with
// github.com/0xrawsec/golang-evtx on the same files, on one core and on all
// cores, and prints the median MB/s (file bytes) and records/s of several
// runs, plus MB per CPU-second (user+system time of the process), which is
// robust to other load on the machine.
//
//	go run ./evtx/cmd/evtxbench -corpus ../../shared/corpus -runs 7
//
// golang-evtx panics (in its own goroutines, so unrecoverably) on some
// damaged files; -screen runs it on each file in a child process first and
// keeps only the files it survives, so both readers see the same input.
package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	rawsec "github.com/0xrawsec/golang-evtx/evtx"
	"github.com/vigil-detect/vigil/source/evtx"
)

func main() {
	corpus := flag.String("corpus", os.Getenv("VIGIL_CORPUS"), "corpus root (evtx-attack-samples and hayabusa-sample-evtx are scanned)")
	runs := flag.Int("runs", 5, "timed runs per configuration (the median is printed)")
	screen := flag.Bool("screen", true, "drop files on which golang-evtx crashes (checked in child processes)")
	one := flag.String("one", "", "internal: parse one file with golang-evtx and exit")
	minSize := flag.Int64("min-size", 0, "only use files of at least this many bytes")
	flag.Parse()
	if *one != "" {
		n := rawsecRead([]string{*one})
		fmt.Println(n)
		return
	}
	if *corpus == "" {
		fmt.Fprintln(os.Stderr, "evtxbench: set -corpus or VIGIL_CORPUS")
		os.Exit(2)
	}
	var files []string
	for _, sub := range []string{"evtx-attack-samples", "hayabusa-sample-evtx"} {
		filepath.WalkDir(filepath.Join(*corpus, sub), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".evtx") {
				files = append(files, p)
			}
			return nil
		})
	}
	sort.Strings(files)
	if *minSize > 0 {
		kept := files[:0]
		for _, f := range files {
			if st, err := os.Stat(f); err == nil && st.Size() >= *minSize {
				kept = append(kept, f)
			}
		}
		files = kept
	}
	if *screen {
		files = screenFiles(files)
	}
	var total int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		total += st.Size()
	}
	fmt.Printf("files: %d, %.1f MB, GOMAXPROCS %d, %d runs each (median)\n", len(files), float64(total)/1e6, runtime.GOMAXPROCS(0), *runs)
	fmt.Printf("cores actually available to this process (control spin): %.2f\n\n", availableCores())
	fmt.Printf("%-22s %-6s %10s %12s %14s %10s\n", "reader", "cores", "MB/s", "records/s", "MB/CPU-second", "records")
	all := runtime.GOMAXPROCS(0)
	for _, cfg := range []struct {
		name  string
		procs int
		run   func() int
	}{
		{"vigil source/evtx", 1, func() int { return vigilRead(files, 1) }},
		{"vigil source/evtx", all, func() int { return vigilRead(files, all) }},
		{"0xrawsec/golang-evtx", 1, func() int { rawsec.SetMaxJobs(1); return rawsecRead(files) }},
		{"0xrawsec/golang-evtx", all, func() int { rawsec.SetMaxJobs(all); return rawsecRead(files) }},
	} {
		prev := runtime.GOMAXPROCS(cfg.procs)
		cfg.run() // warm-up (page cache)
		var secs, cpus []float64
		var n int
		for i := 0; i < *runs; i++ {
			runtime.GC()
			debug.FreeOSMemory()
			c0 := cpuSeconds()
			start := time.Now()
			n = cfg.run()
			secs = append(secs, time.Since(start).Seconds())
			cpus = append(cpus, cpuSeconds()-c0)
		}
		runtime.GOMAXPROCS(prev)
		sort.Float64s(secs)
		sort.Float64s(cpus)
		med, cpu := secs[len(secs)/2], cpus[len(cpus)/2]
		fmt.Printf("%-22s %-6d %10.1f %12.0f %14.1f %10d\n", cfg.name, cfg.procs, float64(total)/1e6/med, float64(n)/med, float64(total)/1e6/cpu, n)
	}
}

// availableCores spins GOMAXPROCS goroutines for a moment and returns the
// CPU time they got per wall-clock second: about GOMAXPROCS on an idle
// machine, less when other processes compete for the cores.
func availableCores() float64 {
	n := runtime.GOMAXPROCS(0)
	c0, t0 := cpuSeconds(), time.Now()
	done := make(chan int)
	for i := 0; i < n; i++ {
		go func() {
			x := 0
			for time.Since(t0) < 300*time.Millisecond {
				for j := 0; j < 10000; j++ {
					x += j ^ (x >> 3)
				}
			}
			done <- x
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
	return (cpuSeconds() - c0) / time.Since(t0).Seconds()
}

// vigilRead reads every record of files and returns the record count.
func vigilRead(files []string, workers int) int {
	n := 0
	for _, f := range files {
		r, err := evtx.Open(f, evtx.Options{Workers: workers})
		if err != nil {
			continue
		}
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				break
			}
			_ = rec
			n++
		}
		r.Close()
	}
	return n
}

// rawsecRead reads every event of files with golang-evtx (ordered, parallel
// FastEvents) and returns the event count.
func rawsecRead(files []string) int {
	n := 0
	for _, f := range files {
		ef, err := rawsec.OpenDirty(f)
		if err != nil {
			continue
		}
		for e := range ef.FastEvents() {
			_ = e
			n++
		}
		ef.Close()
	}
	return n
}

func screenFiles(files []string) []string {
	self, err := os.Executable()
	if err != nil {
		return files
	}
	var ok []string
	for _, f := range files {
		cmd := exec.Command(self, "-one", f)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "golang-evtx fails on %s: %s\n", f, firstLine(string(out)))
			continue
		}
		ok = append(ok, f)
	}
	return ok
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
