package evtx

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var genSeeds = flag.Bool("genseeds", false, "regenerate testdata/fuzz/FuzzReader seeds from the corpus")

// seedSources are small corpus files whose header and first chunk (cut at
// the chunk's free space offset) seed the fuzzer and the robustness tests:
// Sysmon (templates, GUIDs, hex), Security with UserData (nested BinXML,
// SIDs), classic events with unnamed Data and Binary, and a file whose
// records carry plain elements without templates.
var seedSources = []string{
	"evtx-attack-samples/AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx",
	"evtx-attack-samples/Command and Control/DE_RDP_Tunnel_5156.evtx",
	"evtx-attack-samples/Credential Access/MSSQL_multiple_failed_logon_EventID_18456.evtx",
	"hayabusa-sample-evtx/EVTX-to-MITRE-Attack/TA0001-Initial access/T1078-Valid accounts/ID1149-RDP success logins to multiple hosts.evtx",
}

const seedDir = "testdata/fuzz/FuzzReader"

func TestGenerateSeeds(t *testing.T) {
	if !*genSeeds {
		t.Skip("run with -genseeds to regenerate the fuzz seeds")
	}
	dir := corpusDir(t)
	os.MkdirAll(seedDir, 0o755)
	for i, src := range seedSources {
		data, err := os.ReadFile(filepath.Join(dir, src))
		if err != nil {
			t.Fatal(err)
		}
		end := fileHeaderSize + int(le32(data[fileHeaderSize+48:]))
		seed := data[:end]
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(seed)))
		if err := os.WriteFile(filepath.Join(seedDir, fmt.Sprintf("seed%d", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadSeeds returns the fuzz seed inputs (real file headers and chunks).
func loadSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(seedDir, "seed*"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no fuzz seeds in %s", seedDir)
	}
	var out [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		s := strings.TrimSpace(string(raw))
		s = strings.TrimPrefix(s, "go test fuzz v1\n[]byte(")
		s = strings.TrimSuffix(s, ")")
		b, err := strconv.Unquote(s)
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		out = append(out, []byte(b))
	}
	return out
}

// readAllBytes parses data completely and returns the records (cloned) and
// warnings. It fails the test on errors other than ErrNotEVTX.
func readAllBytes(tb testing.TB, data []byte, workers int) ([]*Record, []Warning, error) {
	return readWith(workers, func(o Options) (*Reader, error) {
		return NewReader(bytes.NewReader(data), int64(len(data)), o)
	})
}

// readWith opens a reader named "mem" with open and reads it to the end,
// returning the records (cloned), the warnings and the first error.
func readWith(workers int, open func(Options) (*Reader, error)) ([]*Record, []Warning, error) {
	var warns []Warning
	r, err := open(Options{Workers: workers, Name: "mem", Warn: func(w Warning) { warns = append(warns, w) }})
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	var recs []*Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs, warns, nil
		}
		if err != nil {
			return recs, warns, err
		}
		recs = append(recs, rec.Clone())
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range loadSeeds(f) {
		f.Add(s)
	}
	f.Add(syntheticFile(3))
	recoverPanics = false
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _, err := readAllBytes(t, data, 1)
		if err != nil && err != ErrNotEVTX {
			t.Fatal(err)
		}
		// Read as a stream (standard input, gzip), the same bytes give
		// the same records.
		srecs, _, serr := readStream(t, data, 2)
		if (serr == nil) != (err == nil) || !sameRecords(srecs, recs) {
			t.Fatalf("stream: %d records (%v), at random: %d (%v)", len(srecs), serr, len(recs), err)
		}
		for _, r := range recs {
			for _, fl := range r.Fields {
				if fl.Name == "" {
					t.Fatalf("record %d: empty field name", r.ID)
				}
			}
		}
	})
}
