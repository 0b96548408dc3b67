package hunt

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// globFold expands pattern like filepath.Glob, but compares file names
// without case: the Windows glob (open_windows.go), where file names are
// case-insensitive. The volume (C:, \\server\share) holds no pattern.
func globFold(pattern string) ([]string, error) {
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
		if dirs, err = globFold(dir); err != nil {
			return nil, err
		}
	} else {
		dirs = []string{dir}
	}
	var out []string
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue // as filepath.Glob: unreadable folders match nothing
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
