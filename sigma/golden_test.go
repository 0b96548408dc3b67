package sigma_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/sigma"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of sigma/testdata from the current results")

// TestGoldenErrors parses testdata/errors/<case>/rule.yml and compares,
// with want.txt, every error ("file:line:col: message"), every warning
// ("warning: ..."), and a dump of the documents that loaded.
func TestGoldenErrors(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "errors", "*", "rule.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no cases in testdata/errors")
	}
	for _, rf := range dirs {
		dir := filepath.Dir(rf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(rf)
			if err != nil {
				t.Fatal(err)
			}
			f, errs := sigma.Parse("rule.yml", data)
			var out bytes.Buffer
			for _, e := range errs {
				fmt.Fprintln(&out, e)
			}
			for _, w := range f.Warnings {
				fmt.Fprintf(&out, "warning: %v\n", w)
			}
			dumpFile(&out, f)
			checkGolden(t, filepath.Join(dir, "want.txt"), out.Bytes())
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update after checking):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func pos(p sigma.Pos) string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// dumpFile writes the documents of a file in a compact, stable form.
func dumpFile(w *bytes.Buffer, f *sigma.File) {
	for _, r := range f.Rules {
		fmt.Fprintf(w, "rule %q id=%q @%s\n", r.Title, r.ID, pos(r.Pos))
		dumpMeta(w, &r.Meta)
		ls := r.LogSource
		fmt.Fprintf(w, "  logsource category=%q product=%q service=%q @%s\n", ls.Category, ls.Product, ls.Service, pos(ls.Pos))
		dumpDetection(w, &r.Detection)
	}
	for _, c := range f.Correlations {
		fmt.Fprintf(w, "correlation %q id=%q name=%q @%s\n", c.Title, c.ID, c.Name, pos(c.Pos))
		fmt.Fprintf(w, "  type=%s rules=%q group-by=%q timespan=%s generate=%v\n", c.Type, c.Rules, c.GroupBy, c.Timespan, c.Generate)
		for _, cc := range c.Condition {
			fmt.Fprintf(w, "  condition %s %v @%s\n", cc.Op, cc.Value, pos(cc.Pos))
		}
		if c.Field != "" {
			fmt.Fprintf(w, "  field=%q percentile=%v\n", c.Field, c.Percentile)
		}
		var names []string
		for k := range c.Aliases {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			var refs []string
			for r, f := range c.Aliases[k] {
				refs = append(refs, r+"="+f)
			}
			sort.Strings(refs)
			fmt.Fprintf(w, "  alias %s: %s\n", k, strings.Join(refs, " "))
		}
	}
	for _, fl := range f.Filters {
		fmt.Fprintf(w, "filter %q id=%q rules=%q @%s\n", fl.Title, fl.ID, fl.Rules, pos(fl.Pos))
		ls := fl.LogSource
		fmt.Fprintf(w, "  logsource category=%q product=%q service=%q\n", ls.Category, ls.Product, ls.Service)
		dumpDetection(w, &fl.Detection)
	}
}

func dumpMeta(w *bytes.Buffer, m *sigma.Meta) {
	if m.Status != "" || m.Level != "" {
		fmt.Fprintf(w, "  status=%q level=%q\n", m.Status, m.Level)
	}
	if len(m.Tags) > 0 {
		fmt.Fprintf(w, "  tags=%q\n", m.Tags)
	}
	if len(m.Custom) > 0 {
		var keys []string
		for k := range m.Custom {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "  custom=%q\n", keys)
	}
}

func dumpDetection(w *bytes.Buffer, d *sigma.Detection) {
	for _, s := range d.Searches {
		fmt.Fprintf(w, "  search %s @%s\n", s.Name, pos(s.Pos))
		for _, sel := range s.Alternatives {
			fmt.Fprintf(w, "    alternative @%s\n", pos(sel.Pos))
			for _, it := range sel.Items {
				name := it.Field
				for _, m := range it.Modifiers {
					name += "|" + m.Name
				}
				var vals []string
				for _, v := range it.Values {
					k := [...]string{"str", "num", "bool", "null"}[v.Kind]
					vals = append(vals, fmt.Sprintf("%s:%q", k, v.Text))
				}
				fmt.Fprintf(w, "      %s @%s = %s\n", name, pos(it.Pos), strings.Join(vals, " "))
			}
		}
	}
	for _, c := range d.Conditions {
		fmt.Fprintf(w, "  condition %q @%s => %s\n", c.Text, pos(c.Pos), c.Expr)
	}
	if a := d.Aggregation; a != nil {
		fmt.Fprintf(w, "  aggregation %s(%s) by %q %s %v @%s timeframe=%q\n", a.Func, a.Field, a.GroupBy, a.Cond.Op, a.Cond.Value, pos(a.Pos), d.Timeframe)
	}
}

// TestFileTooLarge generates a rule file over the size limit: it is
// refused before being read, with its size in the message.
func TestFileTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yml")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const size = 10 << 20
	if err := fh.Truncate(size); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	f, errs := sigma.ParseFile(path)
	want := fmt.Sprintf("%s: file is %d bytes, larger than the %d-byte limit for rule files", path, size, sigma.MaxFileSize)
	if len(errs) != 1 || errs[0].Error() != want {
		t.Fatalf("ParseFile(10 MB) = %v, want %q", errs, want)
	}
	if len(f.Rules) != 0 {
		t.Errorf("rules loaded from a refused file")
	}
	// Parse applies the same limit to data already in memory.
	_, errs = sigma.Parse("mem.yml", make([]byte, sigma.MaxFileSize+1))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "mem.yml: file is") {
		t.Errorf("Parse(over the limit) = %v", errs)
	}
}

func TestParseFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yml")
	_, errs := sigma.ParseFile(path)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), path+": ") {
		t.Fatalf("ParseFile(missing) = %v", errs)
	}
	if !os.IsNotExist(errorsUnwrapAll(errs[0])) {
		t.Errorf("error %v does not wrap the fs error", errs[0])
	}
}

func errorsUnwrapAll(err error) error {
	if se, ok := err.(*sigma.Error); ok && se.Err != nil {
		return se.Err
	}
	return err
}
