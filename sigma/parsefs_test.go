package sigma

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestParseFSCountsFailures: a compiled-in rule file that fails to parse is
// counted in Failed, as LoadPaths counts a user's, not only listed.
func TestParseFSCountsFailures(t *testing.T) {
	good := "title: Good\nlogsource:\n    product: windows\ndetection:\n    selection:\n        Image: x\n    condition: selection\n"
	bad := "title: Bad\nlogsource:\n    product: windows\ndetection:\n    selection:\n        Image: x\n    condition: selection and not filtr\n"
	fsys := fstest.MapFS{
		"rules/a.yml": {Data: []byte(good)},
		"rules/b.yml": {Data: []byte(bad)},
		"rules/c.txt": {Data: []byte("not a rule")},
	}
	c, errs := ParseFS(fsys, "rules/*.yml", "builtin:")
	if c.Files != 2 || len(c.Rules) != 1 || c.Failed != 1 {
		t.Fatalf("files %d, rules %d, failed %d; want 2, 1, 1", c.Files, len(c.Rules), c.Failed)
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "builtin:rules/b.yml:7:") {
		t.Fatalf("errors %v, want one at builtin:rules/b.yml:7", errs)
	}
}
