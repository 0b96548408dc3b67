//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalsEndCleanly runs the vigil binary on an endless input and
// stops it with SIGTERM and with SIGINT: both finish the current output
// line, flush, print the summary and exit 1, so that a service manager's
// or a CI job's SIGTERM leaves no half-written line.
func TestSignalsEndCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vigil")
	}
	bin := filepath.Join(t.TempDir(), "vigil")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	events, err := os.ReadFile("../../testdata/example/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "hunt", "-f", "jsonl", "-r", "../../testdata/example/rules", "-")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Feed the input until vigil stops reading it.
			go func() {
				for {
					if _, err := stdin.Write(events); err != nil {
						return
					}
				}
			}()
			var out bytes.Buffer
			br := bufio.NewReader(stdout)
			// Wait for output to flow, then signal.
			first, err := br.ReadBytes('\n')
			if err != nil {
				t.Fatalf("no output: %v; stderr:\n%s", err, stderr.String())
			}
			out.Write(first)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(&out, br)
				done <- errors.Join(err, cmd.Wait())
			}()
			var werr error
			select {
			case werr = <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("vigil did not stop on %v", sig)
			}
			stdin.Close()
			var ee *exec.ExitError
			if !errors.As(werr, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1; stderr:\n%s", werr, stderr.String())
			}
			data := out.Bytes()
			if len(data) == 0 || data[len(data)-1] != '\n' {
				t.Fatalf("output ends with a half-written line: %q", data[max(0, len(data)-80):])
			}
			for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
				if !json.Valid([]byte(line)) {
					t.Fatalf("line %d is not a whole JSON alert: %.80q", i+1, line)
				}
			}
			if !strings.Contains(stderr.String(), "vigil: stopped early: context canceled") || !strings.Contains(stderr.String(), "vigil: events: ") {
				t.Errorf("stderr lacks the summary:\n%s", stderr.String())
			}
		})
	}
}
