// Command vigil hunts Windows event logs with Sigma rules. See docs/cli.md.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/vigil-detect/vigil/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
