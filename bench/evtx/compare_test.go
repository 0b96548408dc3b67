package evtx_test

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	rawsec "github.com/0xrawsec/golang-evtx/evtx"
	"github.com/vigil-detect/vigil/source/evtx"
)

// benchFiles are large, clean corpus files that golang-evtx also reads
// without crashing.
var benchFiles = []string{
	"hayabusa-sample-evtx/DeepBlueCLI/many-events-application.evtx",
	"hayabusa-sample-evtx/DeepBlueCLI/Powershell-Invoke-Obfuscation-many.evtx",
	"hayabusa-sample-evtx/DeepBlueCLI/smb-password-guessing-security.evtx",
	"evtx-attack-samples/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
}

func files(b *testing.B) ([]string, int64) {
	dir := os.Getenv("VIGIL_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	var out []string
	var total int64
	for _, f := range benchFiles {
		p := filepath.Join(dir, f)
		st, err := os.Stat(p)
		if err != nil {
			if os.Getenv("CI") != "" {
				b.Fatalf("corpus missing: %v", err)
			}
			b.Skipf("corpus missing (set VIGIL_CORPUS): %v", err)
		}
		out = append(out, p)
		total += st.Size()
	}
	return out, total
}

func benchVigil(b *testing.B, workers int) {
	paths, total := files(b)
	b.SetBytes(total)
	n := 0
	for b.Loop() {
		for _, p := range paths {
			r, err := evtx.Open(p, evtx.Options{Workers: workers})
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := r.Next(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
				n++
			}
			r.Close()
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

func benchRawsec(b *testing.B, jobs int) {
	paths, total := files(b)
	b.SetBytes(total)
	rawsec.SetMaxJobs(jobs)
	n := 0
	for b.Loop() {
		for _, p := range paths {
			ef, err := rawsec.OpenDirty(p)
			if err != nil {
				b.Fatal(err)
			}
			for range ef.FastEvents() {
				n++
			}
			ef.Close()
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// Run with -cpu 1 for the single-core figures and -cpu 2 (or more) for all
// cores: the worker counts follow GOMAXPROCS.
func BenchmarkVigil(b *testing.B)  { benchVigil(b, runtime.GOMAXPROCS(0)) }
func BenchmarkRawsec(b *testing.B) { benchRawsec(b, runtime.GOMAXPROCS(0)) }
