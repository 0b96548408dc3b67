// Command dumpbench compares `vigil dump` with
// github.com/0xrawsec/golang-evtx v1.2.9 writing the same EVTX files as
// JSON Lines to a file, wall clock and CPU time, both on the same cores.
//
// golang-evtx's side is what its evtxdump tool does, buffered: each file
// opened with OpenDirty, its events read with FastEvents (chunks parsed
// in parallel, events in order) and written with evtx.ToJSON, one per
// line. vigil's side is the vigil binary, built from the repository, run
// as `vigil dump --quiet FILES > out.jsonl`. Two workloads: every EVTX
// file of the corpus that golang-evtx reads without crashing, and a dense
// Security log (every chunk full: DeepBlueCLI's
// smb-password-guessing-security.evtx) given -dense-repeat times. Run it
// from bench/:
//
//	go run ./evtx/cmd/dumpbench -runs 5
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	rawsec "github.com/0xrawsec/golang-evtx/evtx"

	"github.com/vigil-detect/vigil/bench/reporoot"
	"github.com/vigil-detect/vigil/internal/corpus"
)

func main() {
	corpusDir := flag.String("corpus", "", "corpus root (default: $VIGIL_CORPUS or ../shared/corpus beside the repository)")
	runs := flag.Int("runs", 5, "timed runs per tool and workload (medians are printed)")
	cores := flag.Int("cores", 2, "GOMAXPROCS of both tools")
	denseRepeat := flag.Int("dense-repeat", 30, "times the dense Security log is given on the command line")
	repo := flag.String("repo", "", "vigil repository root (default: found from the working directory)")
	rawsecOut := flag.String("rawsec-jsonl", "", "internal: write the events of the file arguments as JSON Lines to this file with golang-evtx, and exit")
	flag.Parse()
	if *rawsecOut != "" {
		n, err := rawsecJSONL(*rawsecOut, flag.Args())
		if err != nil {
			fatal(err)
		}
		fmt.Println(n)
		return
	}
	if *corpusDir == "" {
		*corpusDir = corpus.Dir()
	}
	if *corpusDir == "" {
		fatal(errors.New("shared corpus not found: set VIGIL_CORPUS or use -corpus"))
	}
	if err := run(*corpusDir, *repo, *runs, *cores, *denseRepeat); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "dumpbench:", err)
	os.Exit(1)
}

// rawsecJSONL writes every event of files as one JSON object per line, the
// way golang-evtx's evtxdump prints them, through a buffered writer.
func rawsecJSONL(out string, files []string) (int, error) {
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	n := 0
	for _, p := range files {
		ef, err := rawsec.OpenDirty(p)
		if err != nil {
			continue
		}
		for e := range ef.FastEvents() {
			w.Write(rawsec.ToJSON(e))
			w.WriteByte('\n')
			n++
		}
		ef.Close()
	}
	if err := w.Flush(); err != nil {
		return n, err
	}
	return n, f.Close()
}

type result struct {
	wall, cpu float64
	lines     int
	outBytes  int64
}

func run(corpusDir, repo string, runs, cores, denseRepeat int) error {
	root, err := reporoot.Find(repo)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "dumpbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "vigil")
	build := exec.Command("go", "build", "-o", bin, "./cmd/vigil")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building vigil: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var all []string
	for _, sub := range []string{"evtx-attack-samples", "hayabusa-sample-evtx"} {
		filepath.WalkDir(filepath.Join(corpusDir, sub), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(strings.ToLower(p), ".evtx") {
				all = append(all, p)
			}
			return nil
		})
	}
	slices.Sort(all)
	// golang-evtx panics in its own goroutines on some damaged files:
	// keep the files it survives, for both tools.
	var ok []string
	for _, f := range all {
		if err := exec.Command(self, "-rawsec-jsonl", os.DevNull, f).Run(); err != nil {
			continue
		}
		ok = append(ok, f)
	}
	dense := filepath.Join(corpusDir, "hayabusa-sample-evtx", "DeepBlueCLI", "smb-password-guessing-security.evtx")
	var denseFiles []string
	for range denseRepeat {
		denseFiles = append(denseFiles, dense)
	}
	env := append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", cores))
	out := filepath.Join(tmp, "out.jsonl")
	vigil := func(files []string) (result, error) {
		f, err := os.Create(out)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		var stderr bytes.Buffer
		cmd := exec.Command(bin, append([]string{"dump", "--quiet"}, files...)...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, f, &stderr
		start := time.Now()
		err = cmd.Run()
		wall := time.Since(start)
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			return result{}, fmt.Errorf("vigil dump: %v: %s", err, stderr.String())
		}
		return measure(cmd, wall, out)
	}
	peer := func(files []string) (result, error) {
		var stderr bytes.Buffer
		cmd := exec.Command(self, append([]string{"-rawsec-jsonl", out}, files...)...)
		cmd.Env, cmd.Stderr = env, &stderr
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		if err != nil {
			return result{}, fmt.Errorf("golang-evtx: %v: %s", err, stderr.String())
		}
		return measure(cmd, wall, out)
	}
	fmt.Printf("machine: %d CPUs, both tools with GOMAXPROCS=%d; %d runs each, interleaved; medians\n", runtime.NumCPU(), cores, runs)
	fmt.Printf("vigil:  %s dump --quiet FILES > out.jsonl\n", bin)
	fmt.Printf("peer:   %s -rawsec-jsonl out.jsonl FILES (golang-evtx v1.2.9: OpenDirty, FastEvents, ToJSON per event, buffered)\n\n", self)
	tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\ttool\tinput MB\tevents\toutput MB\tmedian wall\tMB/s (wall)\tevents/s (wall)\tevents/CPU-s\tvigil/peer (wall)\tvigil/peer (CPU)\t")
	for _, wl := range []struct {
		name  string
		files []string
	}{
		{fmt.Sprintf("corpus (%d files)", len(ok)), ok},
		{fmt.Sprintf("dense Security x%d", denseRepeat), denseFiles},
	} {
		var size int64
		for _, f := range wl.files {
			if st, err := os.Stat(f); err == nil {
				size += st.Size()
			}
		}
		var vs, ps []result
		for range runs {
			v, err := vigil(wl.files)
			if err != nil {
				return err
			}
			vs = append(vs, v)
			p, err := peer(wl.files)
			if err != nil {
				return err
			}
			ps = append(ps, p)
		}
		vw, vc := medians(vs)
		pw, pc := medians(ps)
		mb := float64(size) / 1e6
		fmt.Fprintf(tw, "%s\tvigil dump\t%.1f\t%d\t%.1f\t%.3fs\t%.1f\t%s\t%s\t%.1fx\t%.1fx\t\n", wl.name, mb, vs[0].lines, float64(vs[0].outBytes)/1e6, vw, mb/vw, rate(float64(vs[0].lines)/vw), rate(float64(vs[0].lines)/vc), pw/vw, pc/vc)
		fmt.Fprintf(tw, "%s\tgolang-evtx\t%.1f\t%d\t%.1f\t%.3fs\t%.1f\t%s\t%s\t\t\t\n", wl.name, mb, ps[0].lines, float64(ps[0].outBytes)/1e6, pw, mb/pw, rate(float64(ps[0].lines)/pw), rate(float64(ps[0].lines)/pc))
	}
	return tw.Flush()
}

func measure(cmd *exec.Cmd, wall time.Duration, out string) (result, error) {
	r := result{wall: wall.Seconds(), cpu: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()}
	data, err := os.ReadFile(out)
	if err != nil {
		return r, err
	}
	r.lines, r.outBytes = bytes.Count(data, []byte("\n")), int64(len(data))
	return r, nil
}

func medians(rs []result) (wall, cpu float64) {
	var w, c []float64
	for _, r := range rs {
		w, c = append(w, r.wall), append(c, r.cpu)
	}
	return median(w), median(c)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rate(x float64) string {
	if x >= 1e6 {
		return fmt.Sprintf("%.2fM", x/1e6)
	}
	return fmt.Sprintf("%.1fk", x/1e3)
}
