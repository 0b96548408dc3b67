package hunt

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vigil-detect/vigil/source/evtx"
)

// Input is one file to hunt over, found by ExpandInputs.
type Input struct {
	// Path is the file's path, or "-" for standard input.
	Path string
	// Size is the file's size in bytes (0 for standard input, named
	// pipes and devices).
	Size int64
	// info identifies the file (nil for standard input).
	info os.FileInfo
}

// InputProblem is an argument or a file that ExpandInputs skipped.
type InputProblem struct {
	Path string
	Err  error
}

func (p InputProblem) Error() string { return fmt.Sprintf("%s: %v", p.Path, p.Err) }

// Expansion is the result of ExpandInputs.
type Expansion struct {
	Inputs []Input
	// Skipped are the arguments and files that could not be read.
	Skipped []InputProblem
	// Ignored counts the files in folders that are not event logs.
	Ignored int
}

// Holds reports whether path names one of the inputs, by file identity
// (device and inode), whatever the path it was reached by; it returns the
// input's path. A path that does not exist is not an input.
func (x *Expansion) Holds(path string) (string, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return "", false
	}
	for _, in := range x.Inputs {
		if in.info != nil && os.SameFile(in.info, st) {
			return in.Path, true
		}
	}
	return "", false
}

// Paths returns the input paths, in order.
func (x *Expansion) Paths() []string {
	out := make([]string, len(x.Inputs))
	for i, in := range x.Inputs {
		out[i] = in.Path
	}
	return out
}

// TotalSize is the sum of the input sizes.
func (x *Expansion) TotalSize() int64 {
	var n int64
	for _, in := range x.Inputs {
		n += in.Size
	}
	return n
}

// logExtensions are the extensions of files a folder walk takes without
// looking at their content.
var logExtensions = []string{".evtx", ".json", ".jsonl", ".ndjson", ".gz"}

// ExpandInputs turns command-line arguments into the files to read:
//
//   - "-" is standard input;
//   - a file is taken as given, whatever its name; a named pipe or a
//     device is not opened here (opening a pipe waits for its writer, and
//     closing it loses the writer's data): it is read once, as a stream;
//   - a folder is walked recursively and a file in it is taken when its
//     content is an event log: the EVTX signature, the gzip magic number,
//     or JSON (the first non-blank byte is '{' or '['), whatever its
//     extension; files with a log extension (.evtx .json .jsonl .ndjson
//     .gz) that do not look like one are still taken, so that a damaged
//     log is reported rather than silently ignored;
//   - an argument that does not exist and contains *, ? or [ is expanded
//     as a glob (for shells that do not expand them; "**" is not special).
//
// In a folder, a symbolic link to a file is followed; a symbolic link to
// a folder, a named pipe, a socket or a device is not read and is listed in
// Skipped (name it to read it). A file is listed once even when several
// arguments, links or folders reach it (files are compared by device and
// inode). Arguments and files that cannot be read are returned in Skipped,
// in order; the rest is still expanded.
func ExpandInputs(args []string) *Expansion {
	x := &Expansion{}
	seen := map[string]bool{}
	bySize := map[int64][]os.FileInfo{} // inputs by size, to find one again
	add := func(path string, st os.FileInfo) {
		for _, o := range bySize[st.Size()] {
			if os.SameFile(o, st) {
				return
			}
		}
		bySize[st.Size()] = append(bySize[st.Size()], st)
		size := st.Size()
		if !st.Mode().IsRegular() {
			size = 0
		}
		x.Inputs = append(x.Inputs, Input{Path: path, Size: size, info: st})
	}
	skip := func(path string, err error) {
		x.Skipped = append(x.Skipped, InputProblem{Path: path, Err: err})
	}
	var visit func(path string, explicit bool)
	visit = func(path string, explicit bool) {
		st, err := os.Stat(path)
		if err != nil {
			skip(path, unwrapPathError(err))
			return
		}
		if st.IsDir() {
			walkDir(path, x, add, skip)
			return
		}
		if !st.Mode().IsRegular() {
			if explicit {
				// Streamed once by the hunt; never opened here.
				add(path, st)
			} else {
				skip(path, fmt.Errorf("%s, not read", fileKind(st.Mode())))
			}
			return
		}
		f, err := openInput(path)
		if err != nil {
			skip(path, unwrapPathError(err))
			return
		}
		f.Close()
		add(path, st)
	}
	for _, arg := range args {
		if arg == "-" {
			if !seen["-"] {
				seen["-"] = true
				x.Inputs = append(x.Inputs, Input{Path: "-"})
			}
			continue
		}
		if _, err := os.Lstat(arg); err != nil && strings.ContainsAny(arg, "*?[") {
			matches, gerr := globInputs(arg)
			switch {
			case gerr != nil:
				skip(arg, gerr)
			case len(matches) == 0:
				skip(arg, fmt.Errorf("no file matches the pattern"))
			}
			for _, m := range matches {
				visit(m, true)
			}
			continue
		}
		visit(arg, true)
	}
	return x
}

func walkDir(root string, x *Expansion, add func(string, os.FileInfo), skip func(string, error)) {
	var files []string
	// A folder named through a symbolic link is walked where the link
	// points (WalkDir does not follow it), under the name it was given.
	walk := root
	if real, err := filepath.EvalSymlinks(root); err == nil && real != filepath.Clean(root) {
		walk = real
	}
	err := filepath.WalkDir(walk, func(p string, d fs.DirEntry, err error) error {
		if walk != root {
			if rel, rerr := filepath.Rel(walk, p); rerr == nil {
				p = filepath.Join(root, rel)
			}
		}
		if err != nil {
			skip(p, unwrapPathError(err))
			if d != nil && d.IsDir() && p != root {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		skip(root, unwrapPathError(err))
	}
	sort.Strings(files)
	for _, p := range files {
		st, err := os.Stat(p) // follows a symbolic link
		if err != nil {
			skip(p, unwrapPathError(err))
			continue
		}
		if !st.Mode().IsRegular() {
			// A pipe would block the walk, a device never ends, and a
			// link to a folder may loop: name them to read them.
			skip(p, fmt.Errorf("%s in a folder, not read (name it to read it)", fileKind(st.Mode())))
			continue
		}
		ok, err := sniffLog(p)
		if err != nil {
			skip(p, unwrapPathError(err))
			continue
		}
		if !ok && !hasLogExtension(p) {
			x.Ignored++
			continue
		}
		add(p, st)
	}
}

// fileKind names what a file that is not a regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "symbolic link to a folder"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

func hasLogExtension(p string) bool {
	ext := strings.ToLower(filepath.Ext(p))
	for _, e := range logExtensions {
		if ext == e {
			return true
		}
	}
	return false
}

// sniffLog reports whether a file's first bytes are those of an event log
// vigil reads: EVTX, gzip, or JSON.
func sniffLog(path string) (bool, error) {
	f, err := openInput(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, evtx.SniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return false, err
	}
	return looksLikeLog(head[:n]), nil
}

func looksLikeLog(head []byte) bool {
	switch {
	case evtx.IsEVTX(head):
		return true
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return true
	}
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	return len(head) > 0 && (head[0] == '{' || head[0] == '[')
}

// unwrapPathError drops the path from an *fs.PathError, which the caller
// reports itself.
func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
