package hunt

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path string, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestExpandInputs(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "logs/a.jsonl", `{"EventID":1}`+"\n")
	writeFile(t, "logs/sub/b.evtx", "ElfFile\x00rest")
	writeFile(t, "logs/sub/deeper/c.gz", "\x1f\x8b\x08\x00")
	writeFile(t, "logs/sub/export.txt", "  \n[{\"EventID\":4}]") // JSON by content
	writeFile(t, "logs/sub/Security", "ElfFile\x00no extension") // EVTX by content
	writeFile(t, "logs/bom.log", "\xef\xbb\xbf{\"x\":1}")
	writeFile(t, "logs/readme.md", "# not a log")         // ignored
	writeFile(t, "logs/broken.ndjson", "not json at all") // log extension: taken
	writeFile(t, "other/x.json", `{"a":1}`)               // by glob
	writeFile(t, "other/y.json", `{"a":2}`)               // by glob
	writeFile(t, "notes.txt", "given explicitly: taken")  // explicit file
	x := ExpandInputs([]string{"logs", "other/*.json", "notes.txt", "-", "missing.evtx", "nomatch/*.evtx", "logs/a.jsonl", "-"})
	want := []string{
		"logs/a.jsonl", "logs/bom.log", "logs/broken.ndjson",
		"logs/sub/Security", "logs/sub/b.evtx", "logs/sub/deeper/c.gz", "logs/sub/export.txt",
		"other/x.json", "other/y.json", "notes.txt", "-",
	}
	for i := range want {
		want[i] = filepath.FromSlash(want[i])
	}
	if got := x.Paths(); !reflect.DeepEqual(got, want) {
		t.Errorf("paths:\n got %q\nwant %q", got, want)
	}
	if x.Ignored != 1 {
		t.Errorf("ignored %d, want 1 (readme.md)", x.Ignored)
	}
	var skipped []string
	for _, p := range x.Skipped {
		skipped = append(skipped, p.Error())
	}
	if len(skipped) != 2 || !strings.Contains(skipped[0], "missing.evtx") || !strings.Contains(skipped[0], "no such file") ||
		!strings.Contains(skipped[1], "nomatch/*.evtx: no file matches") {
		t.Errorf("skipped: %q", skipped)
	}
	if x.Inputs[0].Size != int64(len(`{"EventID":1}`+"\n")) {
		t.Errorf("size of %s: %d", x.Inputs[0].Path, x.Inputs[0].Size)
	}
	if got := x.TotalSize(); got <= 0 {
		t.Errorf("total size %d", got)
	}
}

func TestExpandInputsUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "logs/ok.jsonl", "{}\n")
	writeFile(t, "logs/secret.evtx", "ElfFile\x00")
	if err := os.Chmod("logs/secret.evtx", 0); err != nil {
		t.Fatal(err)
	}
	x := ExpandInputs([]string{"logs"})
	if got := x.Paths(); len(got) != 1 || got[0] != filepath.Join("logs", "ok.jsonl") {
		t.Errorf("paths %q", got)
	}
	if len(x.Skipped) != 1 || !strings.Contains(x.Skipped[0].Error(), "permission denied") {
		t.Errorf("skipped %v", x.Skipped)
	}
}

func TestLooksLikeLog(t *testing.T) {
	for in, want := range map[string]bool{
		"ElfFile\x00":   true,
		"\x1f\x8b":      true,
		"{":             true,
		"\n\t [":        true,
		"\xef\xbb\xbf{": true,
		"":              false,
		"EventID,Time":  false,
		"<Event>":       false,
	} {
		if got := looksLikeLog([]byte(in)); got != want {
			t.Errorf("looksLikeLog(%q) = %v", in, got)
		}
	}
}
