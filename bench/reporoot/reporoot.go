// Package reporoot locates the vigil repository for the bench commands
// (dumpbench, sigmabench), which build and run vigil from its source tree.
package reporoot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
)

// Find returns repo made absolute when it is set (the -repo flag), and
// otherwise the nearest directory at or above the working directory whose
// go.mod declares the module github.com/vigil-detect/vigil.
func Find(repo string) (string, error) {
	if repo != "" {
		return filepath.Abs(repo)
	}
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(data, []byte("module github.com/vigil-detect/vigil\n")) {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("vigil repository not found above the working directory; use -repo")
		}
		d = up
	}
}
