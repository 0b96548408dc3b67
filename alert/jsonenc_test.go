package alert

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vigil-detect/vigil/event"
)

// stdJSON is what encoding/json writes for a, as JSONLines did before
// AppendJSON: an Encoder with HTML escaping off, without the newline.
func stdJSON(a *Alert) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func checkSame(t *testing.T, a *Alert) {
	t.Helper()
	want, werr := stdJSON(a)
	got, gerr := AppendJSON(nil, a)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("error %v, encoding/json %v", gerr, werr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("AppendJSON differs from encoding/json:\n got: %s\nwant: %s", got, want)
	}
}

// eventFields builds an event's field map the way alerts get it
// (event.Map): strings, numbers and booleans kept as text, nulls, and
// repeated names as lists.
func eventFields(fields ...event.Field) map[string]any {
	e := event.New(event.NewSchema(nil))
	for _, f := range fields {
		e.Add(f.Name, f.Str, f.Kind)
	}
	return e.Map()
}

var awkward = []string{
	"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rcr", "\b\f\x00\x01\x1f\x7f",
	"<html> & </html>", "caf\u00e9 \u65e5\u672c", "\u2028\u2029", "bad \xff\xfe utf8 \xe2\x82", "emoji \U0001F600",
	"C:\\Windows\\System32\\cmd.exe /c \"echo\"", strings.Repeat("x", 300),
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	ts := time.Date(2024, 3, 4, 9, 15, 11, 902000000, time.UTC)
	tsNano := time.Date(2019, 5, 12, 17, 20, 1, 980574000, time.UTC)
	zoned := time.Date(2024, 3, 4, 9, 15, 11, 0, time.FixedZone("x", 3600+30*60))
	farFuture := time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []*Alert{
		{},
		{Rule: Rule{ID: "id", Title: "t", Tags: []string{}, Type: "detection"}, Events: []Event{}},
		{Rule: Rule{ID: "id", Title: "t", Level: "high", Status: "test", Tags: []string{"attack.t1059", "attack.execution"}, Type: "detection", Path: "rules/x.yml"},
			Timestamp: &ts, Host: "WS-1",
			Events: []Event{{Source: event.Source{Path: "a.evtx", RecordID: 42}, Timestamp: &tsNano, Fields: eventFields(
				event.Field{Name: "EventID", Str: "4688", Kind: event.Number},
				event.Field{Name: "Enabled", Str: "true", Kind: event.Bool},
				event.Field{Name: "Gone", Kind: event.Null},
				event.Field{Name: "Image", Str: `C:\Windows\cmd.exe`},
				event.Field{Name: "Multi", Str: "a"}, event.Field{Name: "Multi", Str: "2", Kind: event.Number}, event.Field{Name: "Multi", Kind: event.Null},
			)}}},
		{Rule: Rule{ID: "c", Title: "corr", Tags: []string{}, Type: "correlation"}, Timestamp: &zoned,
			Events:          []Event{{Source: event.Source{Path: "x.jsonl", Line: 7}}, {Source: event.Source{Path: "y", Line: -1}, Fields: map[string]any{}}},
			Group:           map[string]string{"User": "bob", "Computer": "ws", "": "empty"},
			CorrelationType: "event_count",
			Context: map[string]any{"count": 3, "ratio": 0.5, "big": 1e21, "ok": true, "list": []string{"a", "b"}, "none": nil,
				"nested": map[string]any{"z": []any{1, "two", nil}}, "ancestry": []map[string]string{{"image": "w.exe"}}, "when": ts},
			Advisory: "VIGIL-2026-0001"},
		{Rule: Rule{ID: "far"}, Timestamp: &farFuture},
		{Rule: Rule{ID: "bad"}, Context: map[string]any{"f": func() {}}},
	}
	for _, s := range awkward {
		cases = append(cases, &Alert{Rule: Rule{ID: s, Title: s, Level: s, Tags: []string{s}, Path: s}, Host: s,
			Events: []Event{{Source: event.Source{Path: s}, Fields: map[string]any{s: s, s + "k": []any{s}}}},
			Group:  map[string]string{s: s}, CorrelationType: s, Advisory: s})
	}
	for _, a := range cases {
		checkSame(t, a)
	}
	// Random alerts: random strings of awkward bytes everywhere.
	r := rand.New(rand.NewPCG(1, 2))
	randString := func() string {
		var b strings.Builder
		for range r.IntN(12) {
			if r.IntN(3) == 0 {
				b.WriteString(awkward[r.IntN(len(awkward))])
			} else {
				b.WriteByte(byte(r.IntN(256)))
			}
		}
		return b.String()
	}
	for range 3000 {
		a := &Alert{Rule: Rule{ID: randString(), Title: randString(), Level: randString(), Type: randString()}}
		if r.IntN(2) == 0 {
			a.Rule.Tags = []string{randString(), randString()}
		}
		for range r.IntN(3) {
			var fields []event.Field
			for range r.IntN(6) {
				fields = append(fields, event.Field{Name: randString(), Str: randString(), Kind: event.String})
			}
			ev := Event{Source: event.Source{Path: randString(), Line: r.Int64N(1 << 40), RecordID: r.Uint64()}, Fields: eventFields(fields...)}
			if r.IntN(2) == 0 {
				tt := time.Unix(r.Int64N(1<<34), r.Int64N(1e9)).UTC()
				ev.Timestamp = &tt
			}
			a.Events = append(a.Events, ev)
		}
		if r.IntN(4) == 0 {
			a.Group = map[string]string{randString(): randString()}
			a.Context = map[string]any{randString(): randString(), "n": r.Int64()}
		}
		checkSame(t, a)
	}
}

// TestJSONLinesWriter checks the writer: one line per alert, each the
// encoding/json form.
func TestJSONLinesWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewJSONLines(&buf)
	var want []byte
	for _, s := range awkward {
		a := &Alert{Rule: Rule{ID: s, Tags: []string{}}, Host: s, Events: []Event{{Fields: map[string]any{"k": s}}}}
		if err := w.Write(a); err != nil {
			t.Fatal(err)
		}
		b, _ := stdJSON(a)
		want = append(append(want, b...), '\n')
	}
	// Field sets that change, keep their size, or come back: the writer
	// reuses the previous event's sorted keys only when they are the same.
	for i, keys := range [][]string{{"a", "b"}, {"b", "a"}, {"a", "c"}, {"c", "d"}, {"a", "b", "c"}, {"a", "b"}, {}, {"x"}} {
		f := map[string]any{}
		for _, k := range keys {
			f[k] = k + string(rune('0'+i))
		}
		a := &Alert{Rule: Rule{ID: "r", Tags: []string{}}, Events: []Event{{Fields: f}}}
		if err := w.Write(a); err != nil {
			t.Fatal(err)
		}
		b, _ := stdJSON(a)
		want = append(append(want, b...), '\n')
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("JSON Lines output differs:\n got: %s\nwant: %s", buf.Bytes(), want)
	}
}

func FuzzAppendJSON(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, s, "1", int64(3), uint64(4))
	}
	f.Add("k", "v", "-1.5e3", int64(-1), uint64(0))
	f.Fuzz(func(t *testing.T, k, v, num string, line int64, rec uint64) {
		ts := time.Unix(line%(1<<35), int64(rec%1e9)).UTC()
		a := &Alert{Rule: Rule{ID: k, Title: v, Tags: []string{k, v}, Type: "detection", Path: v}, Timestamp: &ts, Host: v,
			Events: []Event{{Source: event.Source{Path: k, Line: line, RecordID: rec}, Timestamp: &ts, Fields: eventFields(
				event.Field{Name: k, Str: v}, event.Field{Name: v, Str: k}, event.Field{Name: "n", Str: num, Kind: event.Number})}},
			Group: map[string]string{k: v}}
		checkSame(t, a)
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	ts := time.Date(2024, 3, 4, 9, 15, 11, 902000000, time.UTC)
	var fields []event.Field
	for i := range 30 {
		fields = append(fields, event.Field{Name: "Field" + string(rune('A'+i)), Str: `C:\Windows\System32\cmd.exe /c "echo hello"`})
	}
	a := &Alert{Rule: Rule{ID: "5d8ad1b2-f0a8-4b6d-98d9-7a38b01a3795", Title: "Title", Level: "high", Tags: []string{"attack.t1059"}, Type: "detection", Path: "rules/x.yml"},
		Timestamp: &ts, Host: "WS", Events: []Event{{Source: event.Source{Path: "x.evtx", RecordID: 1}, Timestamp: &ts, Fields: eventFields(fields...)}}}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = AppendJSON(buf[:0], a)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for b.Loop() {
			buf.Reset()
			enc.Encode(a)
		}
	})
}

// TestEventEncoder compares EventEncoder with encoding/json writing the
// map event.Map gives plus the entries, and the alert records of
// EventEncoder.Event with those of FromEvent, on random events that often
// repeat one of more recent layouts than the encoder keeps (the cached
// plans), with repeated names, every kind, names the entries replace, and
// names in a buffer that is overwritten between events, as decoders do.
func TestEventEncoder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	names := []string{"EventID", "Channel", "source", "timestamp", "Image", "a", "B", "é", "x\ny", ""}
	values := []struct {
		s    string
		kind event.Kind
	}{{"1", event.Number}, {"-0.5e+3", event.Number}, {"01", event.Number}, {"1 ", event.Number}, {"true", event.Bool},
		{"", event.Null}, {"C:\\x", event.String}, {"\u2028<&>\xff", event.String}, {"", event.String}}
	var x EventEncoder
	var buf []byte
	var layouts [][]string // names of recent events, more than EventEncoder keeps
	arena := make([]byte, 0, 4096)
	for n := range 5000 {
		var layout []string
		if len(layouts) > 0 && r.IntN(4) > 0 {
			layout = layouts[r.IntN(len(layouts))] // a known layout, new values
		} else {
			for range r.IntN(8) {
				layout = append(layout, names[r.IntN(len(names))])
			}
			if len(layouts) < 2*maxLayouts {
				layouts = append(layouts, layout)
			} else {
				layouts[r.IntN(len(layouts))] = layout
			}
		}
		// The names are written again into the same buffer for each
		// event, as a decoder does.
		arena = arena[:0]
		var fields []event.Field
		for _, nm := range layout {
			start := len(arena)
			arena = append(arena, nm...)
			v := values[r.IntN(len(values))]
			fields = append(fields, event.Field{Name: unsafeString(arena[start:]), Str: v.s, Kind: v.kind})
		}
		e := event.New(event.NewSchema(nil))
		for _, f := range fields {
			e.Add(f.Name, f.Str, f.Kind)
		}
		var entries []Entry
		if n%2 == 0 {
			entries = []Entry{{"source", event.Source{Path: "p", Line: int64(n)}}, {"timestamp", "2024-01-01T00:00:00Z"}}
		}
		m := e.Map()
		for _, en := range entries {
			m[en.Key] = en.Value
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		werr := enc.Encode(m)
		var gerr error
		buf, gerr = x.Append(buf[:0], e, entries...)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("event %d: error %v, encoding/json %v", n, gerr, werr)
		}
		if werr == nil && !bytes.Equal(buf, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("event %d: EventEncoder differs from encoding/json:\n got: %s\nwant: %s", n, buf, want.Bytes())
		}
		if entries == nil {
			// Event's record writes as FromEvent's does, with or
			// without its Fields map.
			rec := x.Event(e, n%4 == 1)
			if (rec.Fields != nil) != (n%4 == 1 || rec.FieldsJSON() == nil) {
				t.Fatalf("event %d: Event(e, %v) has Fields %v", n, n%4 == 1, rec.Fields != nil)
			}
			got, gerr := AppendJSON(nil, &Alert{Events: []Event{rec}})
			want, werr := AppendJSON(nil, &Alert{Events: []Event{FromEvent(e)}})
			if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
				t.Fatalf("event %d: EventEncoder.Event's record writes\n%s (%v), FromEvent's\n%s (%v)", n, got, gerr, want, werr)
			}
		}
	}
}

// unsafeString makes a string sharing b's memory, as decoders' field
// names do.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// BenchmarkEventEncoderEvent measures the record of an alert on a Sysmon
// event of the bench workload's shape, encoded for the JSON Lines writer
// (the map skipped), against FromEvent's map and its encoding.
func BenchmarkEventEncoderEvent(b *testing.B) {
	e := event.New(event.NewSchema(nil))
	for _, f := range [][2]string{{"Channel", "Microsoft-Windows-Sysmon/Operational"}, {"Computer", "IEWIN7"},
		{"CreationUtcTime", "2019-04-27 15:57:25.868"}, {"EventID", "11"}, {"EventRecordID", "6575"},
		{"Execution_ProcessID", "1912"}, {"Execution_ThreadID", "996"}, {"Image", `C:\Windows\Explorer.EXE`},
		{"Keywords", "0x8000000000000000"}, {"Level", "4"}, {"Opcode", "0"}, {"ProcessGuid", "{365ABB72-7ACC-5CC4-0000-0010B2470300}"},
		{"ProcessId", "2772"}, {"Provider_Guid", "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"}, {"Provider_Name", "Microsoft-Windows-Sysmon"},
		{"RuleName", ""}, {"Security_UserID", "S-1-5-18"}, {"TargetFilename", `C:\Users\IEUser\Downloads\Flash_update.exe`},
		{"Task", "11"}, {"TimeCreated_SystemTime", "2019-04-27T15:57:25.8688632Z"}, {"UtcTime", "2019-04-27 15:57:25.868"}, {"Version", "2"}} {
		e.Add(f[0], f[1], event.String)
	}
	a := &Alert{Rule: Rule{ID: "5d8ad1b2-f0a8-4b6d-98d9-7a38b01a3795", Title: "Title", Level: "high", Tags: []string{"attack.t1059"}, Type: "detection", Path: "rules/x.yml"}}
	var buf []byte
	b.Run("EventEncoder", func(b *testing.B) {
		b.ReportAllocs()
		var x EventEncoder
		for b.Loop() {
			a.Events = []Event{x.Event(e, false)}
			buf, _ = AppendJSON(buf[:0], a)
		}
	})
	b.Run("FromEvent", func(b *testing.B) {
		b.ReportAllocs()
		var j JSONLines
		for b.Loop() {
			a.Events = []Event{FromEvent(e)}
			buf, _ = appendAlert(buf[:0], a, &j.keys)
		}
	})
}

// TestAppendStringEveryByte puts each byte value at each position of
// strings around the 8-byte blocks appendString tests at once, next to
// runes of 2 to 4 bytes, and compares with encoding/json.
func TestAppendStringEveryByte(t *testing.T) {
	for _, fill := range []string{"a", "é", "€", "𝄞", "~"} {
		for n := 1; n <= 17; n++ {
			for p := range n {
				for c := range 256 {
					s := []byte(strings.Repeat(fill, n))[:n]
					s[p] = byte(c)
					var want bytes.Buffer
					enc := json.NewEncoder(&want)
					enc.SetEscapeHTML(false)
					if err := enc.Encode(string(s)); err != nil {
						t.Fatal(err)
					}
					if got := appendString(nil, string(s)); !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
						t.Fatalf("%q: got %s, encoding/json %s", s, got, want.Bytes())
					}
				}
			}
		}
	}
}

// TestAppendTime compares appendTime with time.Time's MarshalJSON on
// random UTC instants over years 0-9999 (nanoseconds zero, with trailing
// zeros, or any), and on times outside that range or not in UTC.
func TestAppendTime(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	lo, hi := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	times := []time.Time{time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 3, 4, 5, 6, 7, 8, time.FixedZone("X", 3600)), time.Date(2024, 3, 4, 5, 6, 7, 0, time.Local)}
	for range 20000 {
		ns := r.IntN(1e9)
		switch r.IntN(3) {
		case 0:
			ns = 0
		case 1:
			ns -= ns % []int{10, 1000, 1e6, 1e8}[r.IntN(4)]
		}
		times = append(times, time.Unix(lo+r.Int64N(hi-lo+1), int64(ns)).UTC())
	}
	for _, tm := range times {
		want, werr := tm.MarshalJSON()
		got, gerr := appendTime(nil, &tm)
		if (werr != nil) != (gerr != nil) || werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s (%v), MarshalJSON %s (%v)", tm, got, gerr, want, werr)
		}
	}
}
