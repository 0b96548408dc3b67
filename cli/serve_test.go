package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeConfig: the YAML file sets flags by name, the command line
// wins, and mistakes are reported with their position.
func TestServeConfig(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		args       []string
		want       map[string]string
		err        string
	}{
		{name: "values", yaml: "http: 127.0.0.1:9000\nbeats: 127.0.0.1:5044\nrules: [a/, b/]\nno-ingest: true\nmax-lateness: 1m\npartitions: 32\n",
			want: map[string]string{"http": "127.0.0.1:9000", "beats": "127.0.0.1:5044", "rules": "[a/,b/]", "no-ingest": "true", "max-lateness": "1m0s", "partitions": "32"}},
		{name: "flags win", yaml: "http: 127.0.0.1:9000\nrules: a/\n", args: []string{"--http", "127.0.0.1:1", "-r", "c/"},
			want: map[string]string{"http": "127.0.0.1:1", "rules": "[c/]"}},
		{name: "empty file", yaml: "", want: map[string]string{"http": "127.0.0.1:8470"}},
		{name: "unknown", yaml: "http: x\nhtttp: y\n", err: "config.yml:2:1: unknown setting \"htttp\""},
		{name: "list for a single value", yaml: "http:\n  - a\n  - b\n", err: "config.yml:2:3: http takes one value, not a list"},
		{name: "bad value", yaml: "partitions: many\n", err: "config.yml:1:13: partitions:"},
		{name: "not a mapping", yaml: "- http\n", err: "config.yml:1:1: want a mapping"},
		{name: "config in config", yaml: "config: other.yml\n", err: "unknown setting \"config\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.yml")
			os.WriteFile(path, []byte(c.yaml), 0o600)
			cmd := newServeCmd(&Env{})
			if err := cmd.Flags().Parse(append(c.args, "--config", path)); err != nil {
				t.Fatal(err)
			}
			err := applyConfig(cmd.Flags(), path)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.want {
				if got := cmd.Flags().Lookup(k).Value.String(); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
