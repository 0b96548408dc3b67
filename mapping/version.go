package mapping

import (
	"crypto/sha256"
	"encoding/hex"

	"go.yaml.in/yaml/v3"
)

// Version returns the version the built-in tables (logsources.yaml and
// fields.yaml) declare, and a digest of their bytes: the digest tells two
// builds' tables apart even when someone changed a table and not its
// version. When the two files declare different versions, both are
// returned, joined by "+".
func Version() (version, digest string) {
	ls, fs := fileVersion(builtin), fileVersion(builtinFields)
	version = ls
	if fs != ls {
		version = ls + "+" + fs
	}
	h := sha256.New()
	h.Write(builtin)
	h.Write(builtinFields)
	return version, "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// fileVersion reads a table file's top-level version ("unversioned"
// without one).
func fileVersion(data []byte) string {
	var v struct {
		Version string `yaml:"version"`
	}
	if err := yaml.Unmarshal(data, &v); err != nil || v.Version == "" {
		return "unversioned"
	}
	return v.Version
}
