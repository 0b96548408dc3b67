// Package cli implements vigil's command line: the cobra commands, their
// flags and help texts, and the translation of their results into output
// and exit codes. cmd/vigil only calls Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/internal/term"
)

// Exit codes, documented in docs/cli.md.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
	// ExitAlerts is returned by vigil hunt --fail-on LEVEL when an alert
	// at or above LEVEL fired.
	ExitAlerts = 3
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{ExitUsage, fmt.Errorf(format, args...)}
}

// Env is what a command run sees of the world; tests substitute it.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Terminal reports whether w is a terminal and its width in columns
	// (0 when unknown); nil checks *os.File writers.
	Terminal func(w io.Writer) (bool, int)
}

// fileTerminal is Env.Terminal for the real standard streams.
func fileTerminal(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(f) {
		return false, 0
	}
	return true, term.Width(f)
}

// Main runs vigil with args (without the program name) and returns the
// exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Terminal == nil {
		env.Terminal = fileTerminal
	}
	// Every command's standard output goes through stdout, which keeps
	// the first write error: output that could not be written (a full
	// disk, a closed pipe) fails the run with exit 1, whatever the command.
	stdout := &outWriter{w: env.Stdout}
	terminal := env.Terminal
	env.Terminal = func(w io.Writer) (bool, int) {
		if w == io.Writer(stdout) {
			w = stdout.w
		}
		return terminal(w)
	}
	env.Stdout = stdout
	root := newRoot(&env)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil && stdout.err != nil {
		err = &exitError{ExitFailure, fmt.Errorf("writing standard output: %w", stdout.err)}
	}
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(env.Stderr, "vigil:", alert.Printable(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		if stdout.err != nil && ee.code != ExitFailure {
			fmt.Fprintln(env.Stderr, "vigil: writing standard output:", stdout.err)
			return ExitFailure
		}
		return ee.code
	}
	if stdout.err != nil {
		return ExitFailure
	}
	// Cobra's own errors (unknown flag or command) are usage errors.
	return ExitUsage
}

// outWriter is standard output keeping its first write error.
type outWriter struct {
	w   io.Writer
	err error
}

func (o *outWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil && o.err == nil {
		o.err = err
	}
	return n, err
}

func newRoot(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "vigil",
		Short: "vigil hunts Windows event logs with Sigma rules",
		Long: `vigil is a detection engine for Windows endpoint telemetry. It runs Sigma
rules (the whole v2.1 language: every modifier, condition, filter and
correlation) over EVTX files and JSON exports, fast.

Exit codes: 0 done, 1 runtime failure, 2 usage error, 3 "vigil hunt
--fail-on" fired (docs/cli.md).`,
		Example: `  vigil hunt testdata/example/events.jsonl
  vigil hunt -r sigma/rules/windows --min-level high -o timeline.csv logs/
  vigil rules validate rules/
  vigil advisory list
  vigil dump Security.evtx | head
  vigil version
  vigil help hunt`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newHuntCmd(env), newRulesCmd(env), newAdvisoryCmd(env), newDumpCmd(env), newConvertCmd(env), newCoverageCmd(env), newServeCmd(env))
	addVersion(root, env)
	root.AddCommand(newHealthcheckCmd(env))
	return root
}
