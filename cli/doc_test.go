package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestCLIDocCoversEveryFlag: docs/cli.md names every command and every
// visible flag, and every command's help has examples or a long text.
func TestCLIDocCoversEveryFlag(t *testing.T) {
	doc, err := os.ReadFile("../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	root := newRoot(&Env{})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.HasParent() && c.Runnable() {
			if !strings.Contains(string(doc), "## "+c.CommandPath()) && !strings.Contains(string(doc), "## "+c.Parent().CommandPath()+" list, ") {
				t.Errorf("docs/cli.md has no section for %q", c.CommandPath())
			}
			if c.Example == "" && c.Long == "" {
				t.Errorf("%s: no help text beyond the one-line summary", c.CommandPath())
			}
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			if !strings.Contains(string(doc), "--"+f.Name) {
				t.Errorf("docs/cli.md does not mention %s --%s", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
