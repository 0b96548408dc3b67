package mapping_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/mapping"
)

// TestLoadRefusesNonMapping: a file that is not a mapping (an events
// file, a rule, a device) given to --mapping is refused with its
// position, not read as an empty mapping.
func TestLoadRefusesNonMapping(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ path, want string }{
		{write("events.jsonl", `{"EventID":1,"Computer":"a"}`+"\n"), `events.jsonl:1:2: not a mapping file: unknown key "EventID"`},
		{write("events.json", `[{"EventID":1}]`), "events.json:1: not a mapping file"},
		{write("two.jsonl", "{\"EventID\":1}\n{\"EventID\":2}\n"), "two.jsonl:1:2: not a mapping file"},
		{write("rule.yml", "title: x\ndetection: {sel: {a: 1}, condition: sel}\n"), `rule.yml:1:1: not a mapping file: unknown key "title"`},
		{write("empty.yml", ""), "empty.yml:1: not a mapping file"},
		{"/dev/zero", "more than the"},
	} {
		if tc.path == "/dev/zero" {
			if _, err := os.Stat(tc.path); err != nil {
				continue
			}
		}
		_, err := mapping.Load(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v, want an error with %q", tc.path, err, tc.want)
		}
	}
	ok := write("ok.yaml", "logsources:\n  - category: x\n    product: windows\n    sources: [{channel: C}]\n")
	if _, err := mapping.Load(ok); err != nil {
		t.Errorf("a real mapping: %v", err)
	}
}
