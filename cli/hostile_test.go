//go:build unix

package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/internal/corpus"
)

// huntSummaryJSON runs vigil hunt with a JSON summary and returns the exit
// code, the alerts, standard error and the summary.
func huntSummaryJSON(t *testing.T, stdin []byte, args ...string) (int, string, string, huntSummary) {
	t.Helper()
	sum := filepath.Join(t.TempDir(), "summary.json")
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"hunt", "-f", "jsonl", "--summary-json", sum}, args...),
		Env{Stdin: bytes.NewReader(stdin), Stdout: &out, Stderr: &errb})
	var s huntSummary
	if data, err := os.ReadFile(sum); err == nil {
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
	}
	return code, out.String(), errb.String(), s
}

// evtxSample is a real one-chunk EVTX file from the corpus.
func evtxSample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpus.Require(t, "evtx-attack-samples"), "Execution", "exec_sysmon_1_ftp.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// repeatChunks is sample (one header, one 64 KiB chunk) with its chunk n
// times, the header announcing announced chunks with a valid checksum.
func repeatChunks(sample []byte, n, announced int) []byte {
	const hdr, chunk = 4096, 65536
	out := make([]byte, 0, hdr+n*chunk)
	out = append(out, sample[:hdr]...)
	for range n {
		out = append(out, sample[hdr:hdr+chunk]...)
	}
	binary.LittleEndian.PutUint16(out[42:], uint16(announced))
	binary.LittleEndian.PutUint64(out[16:], uint64(announced-1))
	binary.LittleEndian.PutUint32(out[124:], crc32.ChecksumIEEE(out[:120]))
	return out
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHuntOutputIsInput: an output path that names an input, by any
// path, is refused before anything is written; the input is intact.
func TestHuntOutputIsInput(t *testing.T) {
	src, err := os.ReadFile("../testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-o", in, in},
		{"-o", link, dir},
		{"-o", filepath.Join(dir, ".", "events.jsonl"), link},
		{"--summary-json", in, in},
		{"--attack-layer", in, dir},
	} {
		code, _, stderr := runMain(t, append([]string{"hunt"}, args...)...)
		if code != ExitUsage || !strings.Contains(stderr, "writing it would destroy the log before it is read") {
			t.Errorf("%v: exit %d, stderr:\n%s", args, code, stderr)
		}
		if now, _ := os.ReadFile(in); !bytes.Equal(now, src) {
			t.Fatalf("%v: the input was changed", args)
		}
	}
}

// TestHuntNamedPipe: a named pipe given as input is opened once and read
// as a stream (its writer is not killed by an early close, and vigil does
// not wait for a second writer), JSON or EVTX.
func TestHuntNamedPipe(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("named pipes are Unix")
	}
	events, err := os.ReadFile("../testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sample := evtxSample(t)
	_, _, _, want := huntSummaryJSON(t, nil, "-r", "../testdata/example/rules", writeTemp(t, "s.evtx", sample))
	for name, data := range map[string][]byte{"json": events, "evtx": sample} {
		t.Run(name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "pipe")
			if err := mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			werr := make(chan error, 1)
			go func() {
				f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err != nil {
					werr <- err
					return
				}
				_, err = f.Write(data)
				f.Close()
				werr <- err
			}()
			done := make(chan struct{})
			var code int
			var stderr string
			var s huntSummary
			go func() {
				defer close(done)
				code, _, stderr, s = huntSummaryJSON(t, nil, "-r", "../testdata/example/rules", fifo)
			}()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				// Unblock a reader waiting for a writer, then fail.
				if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
					f.Close()
				}
				t.Fatal("vigil hunt on a named pipe did not finish")
			}
			if err := <-werr; err != nil {
				t.Fatalf("the writer failed: %v", err)
			}
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			wantEvents := int64(6)
			if name == "evtx" {
				wantEvents = want.Events.Read
			}
			if s.Events.Read != wantEvents || s.Files.Read != 1 {
				t.Errorf("%d events from %d files, want %d from 1:\n%s", s.Events.Read, s.Files.Read, wantEvents, stderr)
			}
		})
	}
}

// peakHeap samples the heap in use until stop is closed.
func peakHeap(stop <-chan struct{}) *atomic.Uint64 {
	var peak atomic.Uint64
	go func() {
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return &peak
}

// TestHuntEVTXStreamMemory: gzipped EVTX (a small file that expands to
// 128 MiB) and EVTX on standard input are read chunk by chunk: the heap
// stays far below the size of the data.
func TestHuntEVTXStreamMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 128 MiB of EVTX")
	}
	const chunks = 2048 // 128 MiB
	sample := evtxSample(t)
	one := huntEvents(t, nil, writeTemp(t, "one.evtx", sample))
	big := repeatChunks(sample, chunks, chunks)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(big)
	zw.Close()
	bomb := writeTemp(t, "bomb.evtx.gz", gz.Bytes())
	t.Logf("%d MiB of EVTX gzipped into %.1f MiB", len(big)>>20, float64(gz.Len())/(1<<20))
	for name, run := range map[string]func() int64{
		"gzip file": func() int64 { return huntEvents(t, nil, bomb) },
		"stdin":     func() int64 { return huntEvents(t, big, "-") },
	} {
		// The test holds the data itself: measure what the hunt adds.
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		stop := make(chan struct{})
		peak := peakHeap(stop)
		n := run()
		close(stop)
		grew := int64(peak.Load()) - int64(base)
		t.Logf("%s: %d events, the heap grew by %.1f MiB at most", name, n, float64(grew)/(1<<20))
		if n != one*chunks {
			t.Errorf("%s: %d events, want %d", name, n, one*chunks)
		}
		if grew > 48<<20 {
			t.Errorf("%s: the heap grew by %d MiB reading %d MiB of EVTX", name, grew>>20, len(big)>>20)
		}
	}
}

func huntEvents(t *testing.T, stdin []byte, args ...string) int64 {
	t.Helper()
	code, _, stderr, s := huntSummaryJSON(t, stdin, append([]string{"-q", "-r", "../testdata/example/rules"}, args...)...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	return s.Events.Read
}

// TestHuntDamagedEVTX: damage to an EVTX file as a whole is reported as
// what it is, with the events read despite it, never as "unreadable".
func TestHuntDamagedEVTX(t *testing.T) {
	sample := evtxSample(t)
	perChunk := huntEvents(t, nil, writeTemp(t, "one.evtx", sample))
	whole := repeatChunks(sample, 4, 4)
	badSig := append([]byte(nil), whole...)
	copy(badSig, "XXXXXXXX")
	badCRC := append([]byte(nil), whole...)
	badCRC[124] ^= 0xff
	cut := repeatChunks(sample, 2, 4)
	dir := t.TempDir()
	noName := filepath.Join(dir, "Security") // found in a folder by content only
	if err := os.WriteFile(noName, badSig, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		path   string
		events int64
		damage string
	}{
		{"bad header signature", writeTemp(t, "sig.evtx", badSig), 4 * perChunk, "bad file header signature"},
		{"bad header signature, no extension, in a folder", dir, 4 * perChunk, "bad file header signature"},
		{"header checksum mismatch", writeTemp(t, "crc.evtx", badCRC), 4 * perChunk, "file header CRC mismatch"},
		{"cut at a chunk boundary", writeTemp(t, "cut.evtx", cut), 2 * perChunk, "file ends after 2 chunks, the header announces 4: 2 chunks missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr, s := huntSummaryJSON(t, nil, "-r", "../testdata/example/rules", tc.path)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if s.Events.Read != tc.events || s.Files.Read != 1 || len(s.Files.Unreadable) != 0 {
				t.Errorf("%d events, files %+v; want %d events, 1 file read", s.Events.Read, s.Files, tc.events)
			}
			if len(s.Files.Damaged) != 1 || !strings.Contains(s.Files.Damaged[0].Damage, tc.damage) || s.Files.Damaged[0].Events != tc.events {
				t.Errorf("damaged %+v, want %q", s.Files.Damaged, tc.damage)
			}
			if !strings.Contains(stderr, "1 damaged") || !strings.Contains(stderr, tc.damage) || strings.Contains(stderr, "unreadable") {
				t.Errorf("stderr:\n%s", stderr)
			}
		})
	}
}

// TestHuntFolderLinks: in an input folder a link to a log is read, once
// even when the log is also reached another way; a link to a folder and a
// named pipe are counted as skipped, never silently dropped or waited on.
func TestHuntFolderLinks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("links and named pipes are Unix")
	}
	events, err := os.ReadFile("../testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	logs := filepath.Join(root, "logs")
	other := filepath.Join(root, "other")
	for _, d := range []string{logs, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(other, "real.jsonl"), events, 0o644); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(filepath.Join(other, "real.jsonl"), filepath.Join(logs, "linked.jsonl")))
	must(os.Symlink(other, filepath.Join(logs, "otherdir")))
	must(mkfifo(filepath.Join(logs, "pipe.jsonl"), 0o600))
	must(os.Symlink(logs, filepath.Join(root, "logs-link")))

	code, _, stderr, s := huntSummaryJSON(t, nil, "-r", "../testdata/example/rules", logs, filepath.Join(root, "logs-link"), other)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if s.Files.Read != 1 || s.Events.Read != 6 {
		t.Errorf("%d files, %d events read; want the one log once (6 events):\n%s", s.Files.Read, s.Events.Read, stderr)
	}
	var skipped []string
	for _, u := range s.Files.Unreadable {
		skipped = append(skipped, u.Path+": "+u.Error)
	}
	got := strings.Join(skipped, "\n")
	for _, want := range []string{"otherdir: symbolic link to a folder in a folder, not read", "pipe.jsonl: named pipe in a folder, not read"} {
		if !strings.Contains(got, want) {
			t.Errorf("skipped lacks %q:\n%s", want, got)
		}
	}
}

// TestSummaryHostileText: host names and file names from the inputs can
// neither send escape sequences to the terminal nor forge summary lines.
func TestSummaryHostileText(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file names with line breaks are Unix")
	}
	events, err := os.ReadFile("../testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	evil := strings.ReplaceAll(string(events), "FIN-WS-042.corp.example", `FIN\u001b]0;owned\u0007\u001b[31m\u202eHOST\nvigil: alerts: none`)
	evil += "{not json\n"
	path := filepath.Join(t.TempDir(), "ev\nvigil: alerts: none\x1b[2J.jsonl")
	if err := os.WriteFile(path, []byte(evil), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runMain(t, "hunt", "-f", "jsonl", path, filepath.Join(filepath.Dir(path), "missing\nvigil: x"))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.ContainsAny(stderr, "\x1b\x07\u202e") {
		t.Errorf("stderr carries control characters: %q", stderr)
	}
	for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if line == "vigil: alerts: none" || !strings.HasPrefix(line, "vigil: ") {
			t.Errorf("forged or foreign line %q in:\n%s", line, stderr)
		}
	}
	if !strings.Contains(stderr, `FIN␛]0;owned␇␛[31m\u202eHOST␊vigil: alerts: none`) {
		t.Errorf("the host is not shown escaped:\n%s", stderr)
	}
}

// TestOutputUnwritable: every command exits 1 when its output cannot be
// written (a full disk), not 0 or 2.
func TestOutputUnwritable(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full")
	}
	defer full.Close()
	t.Chdir("..")
	for _, args := range [][]string{
		{"rules", "list", "testdata/example/rules"},
		{"advisory", "list"},
		{"advisory", "show", "VIGIL-2026-0001"},
		{"convert", "--target", "splunk", "testdata/example/rules"},
		{"convert", "--target", "kql", "-o", "/dev/full", "testdata/example/rules"},
		{"hunt", "-f", "jsonl", "testdata/example/events.jsonl"},
		{"hunt", "-o", "/dev/full", "testdata/example/events.jsonl"},
	} {
		var errb bytes.Buffer
		code := Main(context.Background(), args, Env{Stdin: strings.NewReader(""), Stdout: full, Stderr: &errb})
		if code != ExitFailure || !strings.Contains(errb.String(), "no space left on device") {
			t.Errorf("%v: exit %d, want 1; stderr:\n%s", args, code, errb.String())
		}
	}
}

// eventStream generates n JSON Lines events, each with its own Key, one
// millisecond apart, without holding them in memory.
type eventStream struct {
	n, i int
	buf  []byte
}

func (s *eventStream) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) && s.i < s.n {
		ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(s.i) * time.Millisecond)
		s.buf = fmt.Appendf(s.buf, `{"@timestamp":%q,"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"ws-1","Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd.exe /c echo %d","Key":"k%d","User":"CORP\\bob","ParentImage":"C:\\Windows\\explorer.exe"}`+"\n",
			ts.Format(time.RFC3339Nano), s.i, s.i)
		s.i++
	}
	if len(s.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.buf)
	s.buf = s.buf[:copy(s.buf, s.buf[n:])]
	return n, nil
}

// TestHuntMaxGroupsBoundsMemory: with --max-groups, memory stays bounded
// however many matches the correlations read: 300 000 matches, each of
// its own group, are correlated in a heap far smaller than they are.
func TestHuntMaxGroupsBoundsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("hunts 300 000 events")
	}
	rules := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(rules, []byte(`title: Any cmd
name: anycmd
logsource: {product: windows, category: process_creation}
detection:
    sel: {Image|endswith: '\cmd.exe'}
    condition: sel
---
title: Repeated key
correlation:
    type: event_count
    rules: [anycmd]
    group-by: [Key]
    timespan: 30d
    condition: {gte: 2}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 300000
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	stop := make(chan struct{})
	peak := peakHeap(stop)
	sum := filepath.Join(t.TempDir(), "summary.json")
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"hunt", "-q", "-f", "jsonl", "--max-groups", "1000", "--summary-json", sum, "-r", rules, "-"},
		Env{Stdin: &eventStream{n: n}, Stdout: &out, Stderr: &errb})
	close(stop)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	data, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	var s huntSummary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	grew := int64(peak.Load()) - int64(ms.HeapInuse)
	c := s.Correlation
	t.Logf("%d events, %d matches, %d groups, %d evicted, %d held at most; the heap grew by %.1f MiB at most",
		s.Events.Read, c.Matches, c.Groups, c.Evicted, c.MaxHeld, float64(grew)/(1<<20))
	if s.Events.Read != n || c.Matches != n || c.Groups != n || c.MaxOpen > 1000 || c.MaxHeld > 1001 || c.Evicted < n-1000 {
		t.Errorf("summary %+v", c)
	}
	if grew > 64<<20 {
		t.Errorf("the heap grew by %d MiB for %d matches under --max-groups 1000", grew>>20, n)
	}
}

// TestHuntDamagedJSON: a byte-order mark is not data, and one damaged
// record in a pretty-printed array costs that record only, reported with
// its line.
func TestHuntDamagedJSON(t *testing.T) {
	events, err := os.ReadFile("../testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(events)), "\n")
	var pretty []string
	for _, l := range lines {
		var v any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.MarshalIndent(v, "  ", "  ")
		pretty = append(pretty, "  "+string(b))
	}
	// The first record loses the quote closing its Computer.
	pretty[0] = strings.Replace(pretty[0], `"FIN-WS-042.corp.example"`, `"FIN-WS-042.corp.example`, 1)
	array := "\xef\xbb\xbf[\n" + strings.Join(pretty, ",\n") + "\n]\n"
	code, _, stderr, s := huntSummaryJSON(t, nil, "-r", "../testdata/example/rules", writeTemp(t, "export.json", []byte(array)))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if s.Events.Read != int64(len(lines)-1) || s.Events.Unparsable != 1 {
		t.Errorf("%d events read, %d unparsable; want %d and 1:\n%s", s.Events.Read, s.Events.Unparsable, len(lines)-1, stderr)
	}
	if len(s.Events.Examples) != 1 || !strings.Contains(s.Events.Examples[0], "export.json:2: string not terminated on line") {
		t.Errorf("examples %q", s.Events.Examples)
	}
	jl := "\xef\xbb\xbf" + string(events)
	if code, _, stderr, s := huntSummaryJSON(t, nil, writeTemp(t, "bom.jsonl", []byte(jl))); code != ExitOK || s.Events.Read != int64(len(lines)) || s.Events.Unparsable != 0 {
		t.Errorf("JSON Lines with a BOM: exit %d, %d events, %d unparsable:\n%s", code, s.Events.Read, s.Events.Unparsable, stderr)
	}
}
