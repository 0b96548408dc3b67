// Command vigil hunts Windows event logs with Sigma rules. See docs/cli.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigil-detect/vigil/cli"
)

func main() {
	// SIGTERM (kill, a service manager, a CI timeout) ends a run as
	// Ctrl-C does: the current output line is finished and flushed, the
	// summary printed, and vigil exits 1.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
