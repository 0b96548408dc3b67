package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

var (
	testTime  = time.Date(2026, 12, 6, 7, 8, 17, 0, time.UTC)
	testFiles = []file{
		{Name: "vigil", Mode: 0o755, Data: []byte("\x7fELF binary")},
		{Name: "docs/z.md", Mode: 0o644, Data: []byte("z")},
		{Name: "README.md", Mode: 0o644, Data: []byte("# vigil\n")},
		{Name: "docs/a.md", Mode: 0o644, Data: []byte("a")},
		{Name: "LICENSE", Mode: 0o644, Data: []byte("Apache")},
	}
	wantOrder = []string{"top/", "top/docs/", "top/LICENSE", "top/README.md", "top/docs/a.md", "top/docs/z.md", "top/vigil"}
)

// TestTarGzReproducible: the same files give the same bytes whatever
// their order, and the archive holds them sorted, owned by 0:0 without
// names, with fixed modes and the given time; the gzip header has no time
// or name.
func TestTarGzReproducible(t *testing.T) {
	var a, b bytes.Buffer
	if err := writeTarGz(&a, "top", testFiles, testTime); err != nil {
		t.Fatal(err)
	}
	rev := append([]file(nil), testFiles...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if err := writeTarGz(&b, "top", rev, testTime); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two archives of the same files differ")
	}
	gz, err := gzip.NewReader(bytes.NewReader(a.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !gz.ModTime.IsZero() || gz.Name != "" || gz.Comment != "" {
		t.Errorf("gzip header %+v", gz.Header)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(testTime) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: owner %d:%d %q:%q times %v %v %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime, h.AccessTime, h.ChangeTime)
		}
		want := int64(0o644)
		if h.Typeflag == tar.TypeDir || strings.HasSuffix(h.Name, "/vigil") {
			want = 0o755
		}
		if h.Mode != want {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, want)
		}
	}
	if strings.Join(names, " ") != strings.Join(wantOrder, " ") {
		t.Errorf("entries %q, want %q", names, wantOrder)
	}
}

func TestZipReproducible(t *testing.T) {
	var a, b bytes.Buffer
	if err := writeZip(&a, "top", testFiles, testTime); err != nil {
		t.Fatal(err)
	}
	if err := writeZip(&b, "top", testFiles[1:], testTime); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("archives of different files are equal")
	}
	b.Reset()
	if err := writeZip(&b, "top", append(append([]file(nil), testFiles[2:]...), testFiles[:2]...), testTime); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two archives of the same files differ")
	}
	zr, err := zip.NewReader(bytes.NewReader(a.Bytes()), int64(a.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if !f.Modified.Equal(testTime) {
			t.Errorf("%s: modified %v", f.Name, f.Modified)
		}
		if strings.HasSuffix(f.Name, "/vigil") && f.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v", f.Name, f.Mode())
		}
		if !f.Mode().IsDir() {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(r)
			for _, tf := range testFiles {
				if "top/"+tf.Name == f.Name && !bytes.Equal(data, tf.Data) {
					t.Errorf("%s: content %q", f.Name, data)
				}
			}
		}
	}
	if strings.Join(names, " ") != strings.Join(wantOrder, " ") {
		t.Errorf("entries %q, want %q", names, wantOrder)
	}
}

// TestCycloneDX: the SBOM lists the binary's modules (replacements
// resolved) in path order, is the same for the same build, and its serial
// number follows its content.
func TestCycloneDX(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/vigil-detect/vigil"},
		Deps: []*debug.Module{
			{Path: "go.yaml.in/yaml/v3", Version: "v3.0.6", Sum: "h1:abc="},
			{Path: "github.com/spf13/cobra", Version: "v1.10.2", Sum: "h1:def="},
			{Path: "example.com/old", Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/new", Version: "v1.0.1", Sum: "h1:ghi="}},
		},
		Settings: []debug.BuildSetting{{Key: "CGO_ENABLED", Value: "0"}, {Key: "-trimpath", Value: "true"}}}
	s := source{Commit: "0123456789abcdef0123456789abcdef01234567", Time: testTime, Version: "v1.2.0"}
	a, err := cycloneDX(bi, s, "linux", "amd64", "vigil_v1.2.0_linux_amd64.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cycloneDX(bi, s, "linux", "amd64", "vigil_v1.2.0_linux_amd64.tar.gz")
	if !bytes.Equal(a, b) {
		t.Fatal("two SBOMs of the same build differ")
	}
	var doc cdxDoc
	if err := json.Unmarshal(a, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.BOMFormat != "CycloneDX" || doc.SpecVersion != "1.5" || !strings.HasPrefix(doc.SerialNumber, "urn:uuid:") || len(doc.SerialNumber) != 45 {
		t.Errorf("header %q %q %q", doc.BOMFormat, doc.SpecVersion, doc.SerialNumber)
	}
	if doc.Metadata.Timestamp != "2026-12-06T07:08:17Z" || doc.Metadata.Component.PURL != "pkg:golang/github.com/vigil-detect/vigil@v1.2.0" {
		t.Errorf("metadata %+v", doc.Metadata)
	}
	var purls []string
	for _, c := range doc.Components {
		purls = append(purls, c.PURL)
	}
	want := "pkg:golang/example.com/new@v1.0.1 pkg:golang/github.com/spf13/cobra@v1.10.2 pkg:golang/go.yaml.in/yaml/v3@v3.0.6"
	if strings.Join(purls, " ") != want {
		t.Errorf("components %q, want %q", purls, want)
	}
	if len(doc.Dependencies) != 1 || len(doc.Dependencies[0].DependsOn) != 3 {
		t.Errorf("dependencies %+v", doc.Dependencies)
	}
	s.Commit = "fedcba9876543210fedcba9876543210fedcba98"
	c, _ := cycloneDX(bi, s, "linux", "amd64", "vigil_v1.2.0_linux_amd64.tar.gz")
	var other cdxDoc
	if err := json.Unmarshal(c, &other); err != nil || other.SerialNumber == doc.SerialNumber {
		t.Errorf("serial number %q does not follow the content (%v)", other.SerialNumber, err)
	}
}

// TestSums: SHA256SUMS lists every file in name order in sha256sum's
// format.
func TestSums(t *testing.T) {
	dir := t.TempDir()
	for n, c := range map[string]string{"b.zip": "b", "a.tar.gz": "a"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeSums(dir, []string{"b.zip", "a.tar.gz"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	want := []string{
		"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  a.tar.gz",
		"3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d  b.zip",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("SHA256SUMS:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
