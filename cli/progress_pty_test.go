//go:build linux

package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair with the standard library.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("ptsname: %v", e)
	}
	s, err := os.OpenFile("/dev/pts/"+itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

func itoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// syncBuffer collects what a reader yields, for polling.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var barLine = regexp.MustCompile(`\r\x1b\[Kvigil: [\d.]+ (B|KiB|MiB)  \d+ events/s  \d+ alerts`)

// TestProgressOnTerminal runs vigil hunt with standard error on a
// pseudo-terminal and standard input held open: the progress line is
// drawn while it reads, then erased before the summary.
func TestProgressOnTerminal(t *testing.T) {
	t.Chdir("..")
	master, slave := openPTY(t)
	var term syncBuffer
	go io.Copy(&term, master)

	data, err := os.ReadFile("testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var out bytes.Buffer
	done := make(chan int)
	go func() {
		done <- Main(context.Background(), []string{"hunt", "-f", "jsonl", "-r", "testdata/example/rules", "-"},
			Env{Stdin: pr, Stdout: &out, Stderr: slave})
	}()
	pw.Write(data[:len(data)/2])
	deadline := time.Now().Add(10 * time.Second)
	for !barLine.MatchString(term.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no progress line on the terminal; got %q", term.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pw.Write(data[len(data)/2:])
	pw.Close()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d: %q", code, term.String())
	}
	for !strings.Contains(term.String(), "events from") {
		if time.Now().After(deadline) {
			t.Fatalf("no summary on the terminal; got %q", term.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := term.String()
	last := strings.LastIndex(got, "\x1b[K")
	if sum := strings.Index(got, "vigil: rules:"); sum < last {
		t.Errorf("progress line not erased before the summary: %q", got)
	}
	if strings.Count(out.String(), "\n") != 2 {
		t.Errorf("alerts: %q", out.String())
	}
}

// TestNoProgressOnPipe: with standard error on a pipe, nothing but the
// summary is written: no progress line, no escape sequence.
func TestNoProgressOnPipe(t *testing.T) {
	t.Chdir("..")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	copied := make(chan struct{})
	go func() { io.Copy(&stderr, r); close(copied) }()
	slow := &slowReader{data: mustRead(t, "testdata/example/events.jsonl"), delay: 300 * time.Millisecond}
	code := Main(context.Background(), []string{"hunt", "-f", "jsonl", "-r", "testdata/example/rules", "-"},
		Env{Stdin: slow, Stdout: io.Discard, Stderr: w})
	w.Close()
	<-copied
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got := stderr.String()
	if strings.ContainsAny(got, "\r\x1b") {
		t.Errorf("control characters on a pipe: %q", got)
	}
	if !strings.HasPrefix(got, "vigil: rules:") {
		t.Errorf("stderr does not start with the summary: %q", got)
	}
}

// slowReader returns half its data, then the rest delay later, so that a
// progress bar would have time to draw.
type slowReader struct {
	data  []byte
	delay time.Duration
	n     int
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	if s.n > 0 {
		time.Sleep(s.delay)
	}
	s.n++
	k := len(s.data)
	if s.n == 1 {
		k = (k + 1) / 2
	}
	k = min(len(p), k)
	k = copy(p, s.data[:k])
	s.data = s.data[k:]
	return k, nil
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
