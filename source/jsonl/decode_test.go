package jsonl

import (
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/source"
)

func fields(e *event.Event) map[string]string {
	m := map[string]string{}
	for _, f := range e.Fields {
		if old, ok := m[f.Name]; ok {
			m[f.Name] = old + "|" + f.Str
		} else {
			m[f.Name] = f.Str
		}
	}
	return m
}

// decodeCase is one line for the decoder: the fields it must yield (all
// of them, no more), or a substring of the error it must return.
type decodeCase struct {
	name string
	in   string
	want map[string]string
	err  string
}

// checkDecode decodes each case into an event of the schema {Image}.
func checkDecode(t *testing.T, d Decoder, tests []decodeCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := event.New(event.NewSchema([]string{"Image"}))
			err := d.Decode([]byte(tc.in), e)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := fields(e)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d fields %v, want %d", len(got), got, len(tc.want))
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []decodeCase{
		{"flat", `{"EventID":1,"Image":"C:\\Windows\\cmd.exe","ok":true,"n":null}`,
			map[string]string{"EventID": "1", "Image": `C:\Windows\cmd.exe`, "ok": "true", "n": ""}, ""},
		{"escapes", `{"a":"x\"y\n\t\u00e9\ud83d\ude00\/"}`, map[string]string{"a": "x\"y\n\té😀/"}, ""},
		{"nested ecs", `{"process":{"executable":"cmd.exe","parent":{"pid":4}},"event":{"category":["process","start"]}}`,
			map[string]string{"process.executable": "cmd.exe", "process.parent.pid": "4", "event.category": "process|start"}, ""},
		{"evtx_dump", `{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Sysmon"}},"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}},"EventData":{"Image":"a.exe"}}}`,
			map[string]string{"Provider_Name": "Sysmon", "EventID": "1", "TimeCreated_SystemTime": "2024-01-01T00:00:00Z", "Image": "a.exe"}, ""},
		{"evtx_dump userdata and text", `{"Event":{"System":{"EventID":{"#text":"4624","#attributes":{"Qualifiers":"16384"}}},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"y"},"SubjectUserName":"bob"}}}}`,
			map[string]string{"EventID": "4624", "EventID_Qualifiers": "16384", "SubjectUserName": "bob"}, ""},
		{"winlogbeat", `{"winlog":{"channel":"Security","event_data":{"NewProcessName":"x.exe"}}}`,
			map[string]string{"winlog.channel": "Security", "NewProcessName": "x.exe"}, ""},
		{"empty object", `{}`, map[string]string{}, ""},
		{"not object", `[1,2]`, nil, "not a JSON object"},
		{"truncated", `{"a":"b`, nil, "unterminated string"},
		{"bad value", `{"a":tru}`, nil, "unexpected character"},
		{"trailing", `{"a":1} x`, nil, "after the object"},
		{"missing colon", `{"a" 1}`, nil, "expected ':'"},
		{"bad escape", `{"a":"\q"}`, nil, "invalid escape"},
	}
	checkDecode(t, Decoder{}, tests)
}

// TestDecodeSchemaOnly keeps the fields of the schema (Image, and the time
// and host fields every schema has, whatever their nesting and case) and
// still rejects bad JSON in the fields it skips.
func TestDecodeSchemaOnly(t *testing.T) {
	tests := []decodeCase{
		{"flat", `{"EventID":1,"Image":"C:\\x.exe","Computer":"pc1","ok":true}`,
			map[string]string{"Image": `C:\x.exe`, "Computer": "pc1"}, ""},
		{"nested host", `{"host":{"name":"h2","ip":["10.0.0.1"]},"process":{"pid":4}}`,
			map[string]string{"host.name": "h2"}, ""},
		{"evtx_dump computer", `{"Event":{"System":{"Computer":"h3","EventID":1},"EventData":{"User":"bob"}}}`,
			map[string]string{"Computer": "h3"}, ""},
		{"case folded", `{"computer":"h4","image":"a.exe"}`, map[string]string{"computer": "h4", "image": "a.exe"}, ""},
		{"none kept", `{"a":{"b":[1,2,{"c":"d"}]}}`, map[string]string{}, ""},
		{"bad escape in a skipped field", `{"Computer":"h","a":"\q"}`, nil, "invalid escape"},
		{"bad value in a skipped field", `{"Computer":"h","a":[tru]}`, nil, "unexpected character"},
		{"truncated skipped field", `{"Computer":"h","a":{"b":1`, nil, "unterminated object"},
	}
	checkDecode(t, Decoder{SchemaOnly: true}, tests)
}

func TestDeepNesting(t *testing.T) {
	in := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	var d Decoder
	if err := d.Decode([]byte(in), event.New(nil)); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("err = %v", err)
	}
}

// TestReaderShapes reads the same events in every shape people export.
func TestReaderShapes(t *testing.T) {
	shapes := map[string]string{
		"jsonl":              "{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}",
		"array":              "[\n {\"a\": 1},\n {\"a\": 2},\n {\"a\": 3}\n]\n",
		"pretty docs":        "{\n  \"a\": 1\n}\n{\n  \"a\": 2\n}{\"a\": 3}\n",
		"single line array":  `[{"a":1},{"a":2},{"a":3}]`,
		"one per line array": "[{\"a\":1},\n{\"a\":2},\n{\"a\":3}]",
	}
	for name, in := range shapes {
		t.Run(name, func(t *testing.T) {
			var problems []string
			r := NewReader(strings.NewReader(in), "x.json", func(p *source.Problem) { problems = append(problems, p.Error()) })
			e := event.New(nil)
			var got []string
			for {
				err := r.Next(e)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				v, _ := e.Get("a")
				got = append(got, strings.Clone(v)) // e's strings are reused
			}
			if strings.Join(got, ",") != "1,2,3" || len(problems) > 0 {
				t.Fatalf("got %v, problems %v", got, problems)
			}
		})
	}
}

// TestReaderBadLines reports bad records with their line and goes on.
func TestReaderBadLines(t *testing.T) {
	in := "{\"a\":1}\nnot json\n{\"a\":\n{\"a\":4}\n[5]\n"
	var problems []string
	r := NewReader(strings.NewReader(in), "x.jsonl", func(p *source.Problem) { problems = append(problems, p.Error()) })
	e := event.New(nil)
	var lines []int64
	for {
		err := r.Next(e)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, e.Source.Line)
	}
	if len(lines) != 2 || lines[0] != 1 || lines[1] != 4 {
		t.Errorf("events at lines %v, want [1 4]", lines)
	}
	want := []string{"x.jsonl:2:", "x.jsonl:3:", "x.jsonl:5:"}
	if len(problems) != len(want) {
		t.Fatalf("problems %v", problems)
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i], w) {
			t.Errorf("problem %q, want prefix %q", problems[i], w)
		}
	}
}

// TestReaderTruncatedDocument reports a document cut short at the end.
func TestReaderTruncatedDocument(t *testing.T) {
	in := "{\n \"a\": 1\n}\n{\n \"a\": "
	var problems []string
	r := NewReader(strings.NewReader(in), "x.json", func(p *source.Problem) { problems = append(problems, p.Error()) })
	e := event.New(nil)
	n := 0
	for r.Next(e) == nil {
		n++
	}
	if n != 1 || len(problems) != 1 || !strings.Contains(problems[0], "x.json:4: truncated") {
		t.Fatalf("%d events, problems %v", n, problems)
	}
}

func TestEventTime(t *testing.T) {
	for in, want := range map[string]string{
		`{"@timestamp":"2024-05-01T10:00:00.123Z"}`:                                                          "2024-05-01T10:00:00.123Z",
		`{"UtcTime":"2024-05-01 10:00:00.123"}`:                                                              "2024-05-01T10:00:00.123Z",
		`{"Event":{"System":{"TimeCreated":{"#attributes":{"SystemTime":"2024-05-01T10:00:00.1234567Z"}}}}}`: "2024-05-01T10:00:00.1234567Z",
		`{"timestamp":1714557600000}`:                                                                        "2024-05-01T10:00:00Z",
	} {
		var d Decoder
		e := event.New(event.NewSchema(nil))
		if err := DecodeEvent(&d, []byte(in), e); err != nil {
			t.Fatal(err)
		}
		if got := e.Time.Format("2006-01-02T15:04:05.999999999Z07:00"); got != want {
			t.Errorf("%s: time %s, want %s", in, got, want)
		}
	}
}

// FuzzDecode checks that the decoder never panics and agrees with
// encoding/json on what is a JSON object.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,"x",null,true]}}`, `{"Event":{"System":{"EventID":1}}}`, `{"a":"\u00e9\ud800"}`, `[1]`, `{`, `{"a":"\\"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decoder
		e := event.New(event.NewSchema([]string{"a", "Image"}))
		err := d.Decode(data, e)
		var v map[string]any
		if err == nil && json.Valid(data) && json.Unmarshal(data, &v) != nil {
			t.Fatalf("decoded %q, which is JSON but not an object", data)
		}
		_ = e.Map()
	})
}

// FuzzReader checks that the reader never panics or loops, whatever the
// stream.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"{\"a\":1}\n{\"a\":2}\n", "[{\"a\":1},{\"a\":2}]", "{\n\"a\":1\n}{\"b\":\"}\"}", "[", "{\"a\":[}", "\"x\" 1 {\"a\":1}",
		// hostile: a byte-order mark, an unterminated string, an unclosed object
		"\xef\xbb\xbf[{\"a\":1}]", "[\n  {\n    \"a\": \"x\n  },\n  {\n    \"a\": 2\n  }\n]", "[\n  {\n    \"a\": {\n  {\n    \"a\": 2\n  }\n]", "\xef\xbb"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(strings.NewReader(string(data)), "f", nil)
		e := event.New(nil)
		for i := 0; i <= len(data)+1; i++ {
			if r.Next(e) != nil {
				return
			}
		}
		t.Fatalf("more events than bytes: the reader loops")
	})
}

// TestDecodeAlternatingShapes decodes lines of several shapes, sharing
// key prefixes and diverging, in a random order with one decoder (which
// guesses each key from the one that preceded it last time) and with a
// fresh decoder per line: fields, their order and their schema slots
// must be the same.
func TestDecodeAlternatingShapes(t *testing.T) {
	shapes := []string{
		`{"Channel":"S","EventID":1,"Image":"a","CommandLine":"x"}`,
		`{"Channel":"S","EventID":3,"Image":"b","DestinationIp":"1.2.3.4"}`,
		`{"Channel":"S","EventID":11,"TargetFilename":"f","Image":"c"}`,
		`{"Event":{"System":{"EventID":4624,"Channel":"Security"},"EventData":{"TargetUserName":"u","Image":"d"}}}`,
		`{"Channel":"S","EventID":1,"Image":["e","f"],"CommandLine":"y","Extra":{"a":1,"b":null}}`,
		`{"EventID":1}`,
		`{}`,
		`{"winlog":{"event_data":{"Image":"g"},"channel":"S"},"EventID":7}`,
	}
	schema := event.NewSchema([]string{"Image", "EventID", "Channel"})
	r := rand.New(rand.NewPCG(1, 2))
	var d Decoder
	got, want := event.New(schema), event.New(schema)
	for n := range 2000 {
		line := shapes[r.IntN(len(shapes))]
		if err := d.Decode([]byte(line), got); err != nil {
			t.Fatal(err)
		}
		var fresh Decoder
		if err := fresh.Decode([]byte(line), want); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Fields, want.Fields) {
			t.Fatalf("line %d %s: got %v, fresh decoder %v", n, line, got.Fields, want.Fields)
		}
		for _, name := range []string{"Image", "EventID", "Channel"} {
			slot := schema.Slot(name)
			if g, w := slotFields(got, slot), slotFields(want, slot); !slices.Equal(g, w) {
				t.Fatalf("line %d %s: slot %s: got %v, fresh decoder %v", n, line, name, g, w)
			}
		}
	}
}

// slotFields lists the indexes of the fields of e's slot.
func slotFields(e *event.Event, slot int) []int {
	var l []int
	for i := e.First(slot); i >= 0; i = e.Next(i) {
		l = append(l, i)
	}
	return l
}
