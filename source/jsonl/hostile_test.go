package jsonl

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/source"
)

// prettyArray is n events as an indented JSON array, the shape of
// PowerShell's ConvertTo-Json; damage(i, rec) may rewrite record i.
func prettyArray(n int, damage func(int, string) string) string {
	var b strings.Builder
	b.WriteString("[\n")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		rec := fmt.Sprintf("    {\n        \"EventID\": %d,\n        \"Image\": \"C:\\\\x%d.exe\",\n        \"EventData\": {\n            \"User\": \"bob\"\n        }\n    }", i, i)
		if damage != nil {
			rec = damage(i, rec)
		}
		b.WriteString(rec)
	}
	b.WriteString("\n]\n")
	return b.String()
}

func readAll(t *testing.T, in string) (ids []string, problems []*source.Problem) {
	t.Helper()
	r := NewReader(strings.NewReader(in), "in.json", func(p *source.Problem) { problems = append(problems, p) })
	e := event.New(nil)
	for i := 0; ; i++ {
		err := r.Next(e)
		if err == io.EOF {
			return ids, problems
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > len(in) {
			t.Fatal("reader loops")
		}
		ids = append(ids, fields(e)["EventID"])
	}
}

// TestResynchronise checks that one damaged record costs that record only,
// reported with its line, in every shape vigil reads.
func TestResynchronise(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		events    int
		problems  int
		problemAt int64 // line of the first problem
	}{
		{"unterminated string in an array", prettyArray(100, func(i int, rec string) string {
			if i == 1 {
				return strings.Replace(rec, `"C:\\x1.exe"`, `"C:\\x1.exe`, 1)
			}
			return rec
		}), 99, 1, 2 + 7*1}, // record i starts on line 2+7i
		{"unclosed object in an array", prettyArray(100, func(i int, rec string) string {
			if i == 50 {
				return strings.Replace(rec, "        }\n    }", "", 1)
			}
			return rec
		}), 99, 1, 2 + 7*50},
		{"unterminated string in the last record", prettyArray(10, func(i int, rec string) string {
			if i == 9 {
				return strings.Replace(rec, `"bob"`, `"bob`, 1)
			}
			return rec
		}), 9, 1, 2 + 7*9},
		{"documents back to back", "{\n \"EventID\": 1,\n \"a\": \"x\n}\n{\n \"EventID\": 2\n}\n{\n \"EventID\": 3\n}\n", 2, 1, 1},
		{"json lines with a broken first line", "{\"EventID\":1,\"a\":\"x\n{\"EventID\":2}\n{\"EventID\":3}\n", 2, 1, 1},
		{"json lines with a broken middle line", "{\"EventID\":1}\n{\"EventID\":2,\"a\":\"x\n{\"EventID\":3}\n", 2, 1, 2},
		{"unindented array, nested objects in the records' column", "[\n{\n\"EventID\": 1,\n\"Data\": [\n{\n\"Name\": \"x\"\n}\n]\n},\n{\n\"EventID\": 2\n}\n]\n", 2, 0, 0},
		{"unindented array with an unterminated string", "[\n{\n\"EventID\": 1,\n\"Data\": [\n{\n\"Name\": \"x\n}\n]\n},\n{\n\"EventID\": 2\n}\n]\n", 1, 1, 2},
		{"array with a BOM", "\xef\xbb\xbf" + prettyArray(10, nil), 10, 0, 0},
		{"json lines with a BOM", "\xef\xbb\xbf{\"EventID\":1}\n{\"EventID\":2}\n", 2, 0, 0},
		{"document with a BOM", "\xef\xbb\xbf{\n\"EventID\": 1\n}\n", 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, problems := readAll(t, tt.in)
			if len(ids) != tt.events || len(problems) != tt.problems {
				t.Fatalf("%d events, %d problems %v; want %d events, %d problems", len(ids), len(problems), problems, tt.events, tt.problems)
			}
			if tt.problems > 0 && problems[0].Line != tt.problemAt {
				t.Errorf("problem at line %d, want %d: %v", problems[0].Line, tt.problemAt, problems[0])
			}
		})
	}
}
