package sink

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultMaxBytes is the size at which File rotates when MaxBytes is 0.
const DefaultMaxBytes = 100 << 20

// Remembered is how many of the last alerts written File keeps the ids of,
// across rotations: more than any sink batch (Options.Batch).
const Remembered = 4096

// File appends alerts to a JSON Lines file (--alerts-file).
//
// Durability: every batch is written, then the file is synced (fsync)
// before Deliver returns, that is before the batch is acknowledged; an
// acknowledged alert is on disk.
//
// Rotation: when the next alert would take the file past MaxBytes, the
// file is synced, closed and renamed PATH.<UTC time>, and a new PATH is
// started. Rotated files are never deleted by vigil.
//
// Exactly once: File keeps the ids of the alerts in the current file and
// in as many of the newest rotated ones as hold the last Remembered
// alerts written (read back when it opens); alerts with those ids are
// skipped. What comes again after a crash is at most the alerts not yet
// acknowledged, no more than the sink's batch (Options.Batch, its
// consumer's max ack pending), all among the last alerts written, though
// a batch may span several small rotated files. A crash in the middle of
// a line leaves a partial line: it is cut off when the file is opened
// again (that alert was not acknowledged and comes again).
type File struct {
	path     string
	maxBytes int64
	mu       sync.Mutex
	f        *os.File
	size     int64
	ids      map[string]bool   // ids of the current file
	rotated  []map[string]bool // ids of the newest rotated files, oldest first
	now      func() time.Time
}

// OpenFile opens (creating it if needed) the alerts file at path, rotating
// at maxBytes (0: DefaultMaxBytes).
func OpenFile(path string, maxBytes int64) (*File, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	fs := &File{path: path, maxBytes: maxBytes, now: time.Now}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fs.f = f
	if fs.ids, fs.size, err = readIDs(f, true); err != nil {
		f.Close()
		return nil, fmt.Errorf("alerts file %s: %w", path, err)
	}
	if _, err := f.Seek(fs.size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	// The rotated files, newest first, until they hold Remembered ids.
	rotated := fs.rotatedFiles()
	for i := len(rotated) - 1; i >= 0 && fs.remembered() < Remembered; i-- {
		pf, err := os.Open(rotated[i])
		if err != nil {
			f.Close()
			return nil, err
		}
		ids, _, err := readIDs(pf, false)
		pf.Close()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("alerts file %s: %w", rotated[i], err)
		}
		fs.rotated = append([]map[string]bool{ids}, fs.rotated...)
	}
	return fs, nil
}

// rotatedFiles returns the PATH.<time> files, oldest first.
func (fs *File) rotatedFiles() []string {
	names, _ := filepath.Glob(fs.path + ".*")
	var rotated []string
	for _, n := range names {
		if _, err := time.Parse(rotateLayout, strings.TrimPrefix(n, fs.path+".")); err == nil {
			rotated = append(rotated, n)
		}
	}
	sort.Strings(rotated) // the layout sorts by time
	return rotated
}

// remembered counts the ids kept.
func (fs *File) remembered() int {
	n := len(fs.ids)
	for _, r := range fs.rotated {
		n += len(r)
	}
	return n
}

// seen reports whether an alert is in the files kept.
func (fs *File) seen(id string) bool {
	if fs.ids[id] {
		return true
	}
	for _, r := range fs.rotated {
		if r[id] {
			return true
		}
	}
	return false
}

const rotateLayout = "20060102T150405.000000000Z"

// readIDs reads the ids of the alerts of a JSON Lines file; with truncate,
// a partial last line is cut off. It returns the size of the complete
// lines.
func readIDs(f *os.File, truncate bool) (map[string]bool, int64, error) {
	ids := map[string]bool{}
	r := bufio.NewReaderSize(f, 1<<20)
	var size int64
	for {
		line, err := r.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			// a long line: read the rest of it
			var more []byte
			more, err = r.ReadSlice('\n')
			line = append(bytes.Clone(line), more...)
		}
		if err == io.EOF {
			if len(line) > 0 && truncate {
				if terr := f.Truncate(size); terr != nil {
					return nil, 0, terr
				}
			}
			return ids, size, nil
		}
		if err != nil {
			return nil, 0, err
		}
		size += int64(len(line))
		if id := idOf(line); id != "" {
			ids[id] = true
		}
	}
}

// Deliver appends the alerts not yet in the file and syncs it.
func (fs *File) Deliver(_ context.Context, alerts []Alert) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f == nil {
		return errors.New("alerts file closed")
	}
	w := bufio.NewWriterSize(fs.f, 256<<10)
	var added []string
	for _, a := range alerts {
		if fs.seen(a.ID) {
			continue
		}
		n := int64(len(a.Data) + 1)
		if fs.size > 0 && fs.size+n > fs.maxBytes {
			if err := w.Flush(); err != nil {
				return err
			}
			for _, id := range added {
				fs.ids[id] = true
			}
			added = added[:0]
			if err := fs.rotate(); err != nil {
				return err
			}
			w.Reset(fs.f)
		}
		w.Write(a.Data)
		w.WriteByte('\n')
		fs.size += n
		added = append(added, a.ID)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// In the file now (synced or not): a retry must not write them again.
	for _, id := range added {
		fs.ids[id] = true
	}
	return fs.f.Sync()
}

// rotate renames the full file and starts a new one.
func (fs *File) rotate() error {
	if err := fs.f.Sync(); err != nil {
		return err
	}
	if err := fs.f.Close(); err != nil {
		return err
	}
	name := fs.path + "." + fs.now().UTC().Format(rotateLayout)
	if err := os.Rename(fs.path, name); err != nil {
		return err
	}
	f, err := os.OpenFile(fs.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		fs.f = nil
		return err
	}
	fs.f, fs.size = f, 0
	fs.rotated = append(fs.rotated, fs.ids)
	fs.ids = map[string]bool{}
	// Forget the oldest rotated files the newer ones make unnecessary.
	for len(fs.rotated) > 1 && fs.remembered()-len(fs.rotated[0]) >= Remembered {
		fs.rotated = fs.rotated[1:]
	}
	return nil
}

// Close closes the file.
func (fs *File) Close() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f == nil {
		return nil
	}
	err := fs.f.Close()
	fs.f = nil
	return err
}
