package hunt

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// globFold expands pattern like filepath.Glob, but compares file names
// without case: the Windows glob (open_windows.go), where file names are
// case-insensitive. The volume (C:, \\server\share) holds no pattern.
// Unlike filepath.Glob, a folder that exists but cannot be listed (access
// denied, as winevt\Logs is to a user who is not an administrator) is an
// error, not "no match".
func globFold(pattern string) ([]string, error) { return globFoldIn(pattern, os.ReadDir) }

func globFoldIn(pattern string, readDir func(string) ([]os.DirEntry, error)) ([]string, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	if !hasMeta(pattern) {
		if _, err := os.Lstat(pattern); err != nil {
			return nil, nil
		}
		return []string{pattern}, nil
	}
	dir, file := filepath.Split(pattern)
	vol := filepath.VolumeName(pattern)
	dir = cleanGlobDir(dir, vol)
	var dirs []string
	if hasMeta(dir[len(vol):]) {
		var err error
		if dirs, err = globFoldIn(dir, readDir); err != nil {
			return nil, err
		}
	} else {
		dirs = []string{dir}
	}
	var out []string
	for _, d := range dirs {
		entries, err := readDir(d)
		if errors.Is(err, fs.ErrPermission) {
			return nil, err
		}
		if err != nil {
			continue // as filepath.Glob: missing folders and files match nothing
		}
		lp := strings.ToLower(file)
		var names []string
		for _, e := range entries {
			if ok, _ := filepath.Match(lp, strings.ToLower(e.Name())); ok {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, filepath.Join(d, n))
		}
	}
	return out, nil
}

// cleanGlobDir is filepath.Glob's cleanGlobPath: the folder part of a
// pattern without its trailing separator, except where that is the root.
func cleanGlobDir(dir, vol string) string {
	switch dir {
	case "":
		return "."
	case string(filepath.Separator):
		return dir
	}
	if len(dir) == len(vol)+1 {
		return dir // C:\ or \\server\share\: the volume's root
	}
	return dir[:len(dir)-1]
}

func hasMeta(p string) bool {
	magic := `*?[`
	if filepath.Separator != '\\' {
		magic = `*?[\`
	}
	return strings.ContainsAny(p, magic)
}
