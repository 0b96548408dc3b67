package sigma

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Collection is what a set of rule files and folders holds.
type Collection struct {
	Files        int
	Rules        []*Rule
	Correlations []*Correlation
	Filters      []*Filter
	Warnings     []*Error
	// Failed counts the documents or files that failed to parse.
	Failed int
}

// Add appends another collection's content.
func (c *Collection) Add(o *Collection) {
	c.Files += o.Files
	c.Rules = append(c.Rules, o.Rules...)
	c.Correlations = append(c.Correlations, o.Correlations...)
	c.Filters = append(c.Filters, o.Filters...)
	c.Warnings = append(c.Warnings, o.Warnings...)
	c.Failed += o.Failed
}

// addFile appends one parsed file's content and counts the documents of
// it that failed (errs are the errors Parse returned for it).
func (c *Collection) addFile(f *File, errs ErrorList) {
	c.Files++
	c.Rules = append(c.Rules, f.Rules...)
	c.Correlations = append(c.Correlations, f.Correlations...)
	c.Filters = append(c.Filters, f.Filters...)
	c.Warnings = append(c.Warnings, f.Warnings...)
	if len(errs) > 0 {
		c.Failed += failedDocs(errs)
	}
}

// ParseFS parses the rule files of fsys that match pattern (fs.Glob), in
// name order, each named prefix plus its path in fsys: the rules compiled
// into vigil (the built-in advisories, the process-tree context rules).
func ParseFS(fsys fs.FS, pattern, prefix string) (*Collection, ErrorList) {
	c := &Collection{}
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return c, ErrorList{err}
	}
	sort.Strings(names)
	var errs ErrorList
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f, ferrs := Parse(prefix+n, data)
		c.addFile(f, ferrs)
		errs = append(errs, ferrs...)
	}
	return c, errs
}

// IsRuleFile reports whether a path names a rule file (.yml or .yaml).
func IsRuleFile(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".yml" || ext == ".yaml"
}

// LoadPaths parses rule files and, recursively, the .yml and .yaml files
// of folders, in lexical order. It returns everything that parsed and
// every problem; one bad file or document never stops the others.
func LoadPaths(paths ...string) (*Collection, ErrorList) {
	c := &Collection{}
	var errs ErrorList
	for _, root := range paths {
		st, err := os.Stat(root)
		if err != nil {
			errs = append(errs, &Error{Pos: Pos{File: root}, Msg: "cannot read rules: " + errText(err), Err: err})
			c.Failed++
			continue
		}
		var files []string
		if st.IsDir() {
			err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					errs = append(errs, &Error{Pos: Pos{File: p}, Msg: errText(err), Err: err})
					return nil
				}
				if d.IsDir() || !IsRuleFile(p) {
					return nil
				}
				if !d.Type().IsRegular() {
					// A named pipe would block the load, a link to a
					// device never ends: only regular files, possibly
					// through a link, are read from a folder.
					st, err := os.Stat(p)
					if err != nil {
						c.Warnings = append(c.Warnings, &Error{Pos: Pos{File: p}, Msg: "rule file skipped: " + errText(err), Err: err})
						return nil
					}
					if !st.Mode().IsRegular() {
						c.Warnings = append(c.Warnings, Errorf(Pos{File: p}, "rule file skipped: %s, not a regular file", fileKind(st.Mode())))
						return nil
					}
				}
				files = append(files, p)
				return nil
			})
			if err != nil {
				errs = append(errs, &Error{Pos: Pos{File: root}, Msg: errText(err), Err: err})
			}
			sort.Strings(files)
		} else {
			files = []string{root}
		}
		for _, f := range parseAll(files) {
			c.addFile(f.file, f.errs)
			errs = append(errs, f.errs...)
		}
	}
	return c, errs
}

// fileKind names what a file that is not a regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a link to a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

func errText(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// failedDocs counts the distinct documents that errors are about.
func failedDocs(errs ErrorList) int {
	docs := map[string]bool{}
	for _, e := range errs {
		if se, ok := e.(*Error); ok {
			docs[se.Doc] = true
		} else {
			docs[""] = true
		}
	}
	return len(docs)
}

type parsed struct {
	file *File
	errs ErrorList
}

// parseAll parses files on every core; results keep the files' order, so
// loading stays deterministic.
func parseAll(files []string) []parsed {
	out := make([]parsed, len(files))
	workers := min(runtime.GOMAXPROCS(0), len(files))
	if workers <= 1 {
		for i, p := range files {
			out[i].file, out[i].errs = ParseFile(p)
		}
		return out
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				out[i].file, out[i].errs = ParseFile(files[i])
			}
		}()
	}
	wg.Wait()
	return out
}
