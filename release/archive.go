package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// file is one regular file of an archive: its path inside the archive's
// top folder, mode and content.
type file struct {
	Name string
	Mode fs.FileMode
	Data []byte
}

// payload reads the files every archive carries besides the binary:
// README.md, LICENSE and docs/ (every file under it) from the exported
// tree.
func payload(tree string) ([]file, error) {
	var out []file
	for _, n := range []string{"README.md", "LICENSE"} {
		b, err := os.ReadFile(filepath.Join(tree, n))
		if err != nil {
			return nil, fmt.Errorf("release payload: %w", err)
		}
		out = append(out, file{Name: n, Mode: 0o644, Data: b})
	}
	err := filepath.WalkDir(filepath.Join(tree, "docs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(tree, p)
		if err != nil {
			return err
		}
		out = append(out, file{Name: filepath.ToSlash(rel), Mode: 0o644, Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("release payload: %w", err)
	}
	return out, nil
}

// pack writes the archive and the SBOM of one platform's binary into out
// and returns their names, archive first.
func pack(out, bin string, extra []file, goos, goarch string, s source) ([]string, error) {
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("vigil_%s_%s_%s", s.Version, goos, goarch)
	files := append([]file{{Name: binaryName(goos), Mode: 0o755, Data: b}}, extra...)
	var buf bytes.Buffer
	name := base + ".tar.gz"
	if goos == "windows" {
		name = base + ".zip"
		err = writeZip(&buf, base, files, s.Time)
	} else {
		err = writeTarGz(&buf, base, files, s.Time)
	}
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(out, name), buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the binary's module list: %w", bin, err)
	}
	sbom, err := cycloneDX(bi, s, goos, goarch, name)
	if err != nil {
		return nil, err
	}
	sbomName := base + ".cdx.json"
	if err := os.WriteFile(filepath.Join(out, sbomName), sbom, 0o644); err != nil {
		return nil, err
	}
	return []string{name, sbomName}, nil
}

// sorted returns the files in name order, with the folders that hold
// them (each once, before its files), all under top.
func sorted(top string, files []file) (dirs []string, out []file) {
	out = append([]file(nil), files...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	seen := map[string]bool{}
	for _, f := range out {
		for d := path.Dir(f.Name); d != "."; d = path.Dir(d) {
			if !seen[d] {
				seen[d] = true
				dirs = append(dirs, d)
			}
		}
	}
	sort.Strings(dirs)
	return append([]string{""}, dirs...), out
}

// writeTarGz writes a gzip-compressed tar of files under the folder top:
// entries in name order (folders first), owner 0:0 without names, modes
// 0755 (folders, executables) and 0644, every time mtime, and a gzip
// header without name or time.
func writeTarGz(w io.Writer, top string, files []file, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	dirs, files := sorted(top, files)
	for _, d := range dirs {
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: path.Join(top, d) + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: path.Join(top, f.Name), Mode: int64(f.Mode.Perm()), Size: int64(len(f.Data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// writeZip writes a zip of files under the folder top, with the same
// order, modes and times as writeTarGz.
func writeZip(w io.Writer, top string, files []file, mtime time.Time) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestCompression)
	})
	dirs, files := sorted(top, files)
	for _, d := range dirs {
		h := &zip.FileHeader{Name: path.Join(top, d) + "/", Method: zip.Store, Modified: mtime}
		h.SetMode(fs.ModeDir | 0o755)
		if _, err := zw.CreateHeader(h); err != nil {
			return err
		}
	}
	for _, f := range files {
		h := &zip.FileHeader{Name: path.Join(top, f.Name), Method: zip.Deflate, Modified: mtime}
		h.SetMode(f.Mode)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.Data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// writeSums writes SHA256SUMS for the named files of dir, in name order,
// in the format sha256sum -c reads.
func writeSums(dir string, names []string) error {
	names = append([]string(nil), names...)
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644)
}
