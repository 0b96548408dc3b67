package advisory

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"io/fs"
	"sort"

	"go.yaml.in/yaml/v3"
)

//go:embed pack.yml
var packFile []byte

// Version returns the version of the built-in advisory pack (pack.yml)
// and a digest of its embedded files (advisories.yml and every rule, in
// name order, each preceded by its name): the digest tells two builds'
// packs apart even when the version was not changed.
func Version() (version, digest string) {
	var p struct {
		Version string `yaml:"version"`
	}
	version = "unversioned"
	if err := yaml.Unmarshal(packFile, &p); err == nil && p.Version != "" {
		version = p.Version
	}
	var names []string
	_ = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, name)
		}
		return nil
	})
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		data, err := files.ReadFile(n)
		if err != nil {
			continue
		}
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write(data)
	}
	return version, "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}
