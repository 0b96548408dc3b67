package event

import (
	"encoding/json"
	"testing"
)

func TestSchemaSlots(t *testing.T) {
	s := NewSchema([]string{"Image", "ThreatName", "process.executable"})
	for name, want := range map[string]string{
		"Image": "Image", "image": "Image", "IMAGE": "Image",
		"Threat Name": "ThreatName", "threatname": "ThreatName",
		"process.executable": "process.executable",
	} {
		i := s.Slot(name)
		if i < 0 || s.Name(i) != want {
			t.Errorf("Slot(%q) = %d (%v), want %s", name, i, i >= 0 && s.Name(i) == want, want)
		}
		if j := s.SlotBytes([]byte(name)); j != i {
			t.Errorf("SlotBytes(%q) = %d, Slot = %d", name, j, i)
		}
	}
	if s.Slot("CommandLine") >= 0 {
		t.Error("unknown field has a slot")
	}
	// Time and host fields always have slots.
	for _, n := range append(TimeFields, HostFields...) {
		if s.Slot(n) < 0 {
			t.Errorf("%s has no slot", n)
		}
	}
}

func TestEventFields(t *testing.T) {
	s := NewSchema([]string{"Image", "tags"})
	e := New(s)
	e.Add("Image", `C:\Windows\CMD.EXE`, String)
	e.Add("tags", "a", String)
	e.Add("tags", "B", String)
	e.Add("Other", "x", String)
	e.Add("n", "12", Number)
	e.Add("z", "", Null)
	img := s.Slot("image")
	if i := e.First(img); i < 0 || e.Lower(i) != `c:\windows\cmd.exe` {
		t.Fatalf("Lower(Image) = %q", e.Lower(i))
	}
	var tags []string
	for i := e.First(s.Slot("tags")); i >= 0; i = e.Next(i) {
		tags = append(tags, e.Lower(i))
	}
	if len(tags) != 2 || tags[0] != "a" || tags[1] != "b" {
		t.Errorf("tags = %v", tags)
	}
	if v, ok := e.Get("other"); !ok || v != "x" {
		t.Errorf("Get(other) = %q %v", v, ok)
	}
	b, err := json.Marshal(e.Map())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Image":"C:\\Windows\\CMD.EXE","Other":"x","n":12,"tags":["a","B"],"z":null}`
	if string(b) != want {
		t.Errorf("Map = %s\nwant  %s", b, want)
	}
	e.Set(img, "Image", "other.exe", String)
	if v, _ := e.Get("Image"); v != "other.exe" || e.Lower(e.First(img)) != "other.exe" {
		t.Errorf("after Set: %q / %q", v, e.Lower(e.First(img)))
	}
	c := e.Clone()
	e.Reset()
	if e.Has(img) || len(e.Fields) != 0 {
		t.Error("Reset left fields")
	}
	if v, _ := c.Get("Image"); v != "other.exe" {
		t.Errorf("clone lost Image: %q", v)
	}
}

func TestLowerUnicode(t *testing.T) {
	for in, want := range map[string]string{"ÄÖÜ": "äöü", "ΣΊΣΥΦΟΣ": "σίσυφοσ", "\xff\xfeA": "\xff\xfea", "": "", "ſtart": "start", "\u212Aey": "key"} {
		if got := ToLower(in); got != want {
			t.Errorf("ToLower(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkLower(b *testing.B) {
	e := New(NewSchema(nil))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e.Reset()
		e.Add("CommandLine", `"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -ExecutionPolicy Bypass`, String)
		_ = e.Lower(0)
	}
}

func BenchmarkAppendLower(b *testing.B) {
	s := `"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -ExecutionPolicy Bypass`
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(s)))
	for i := 0; i < b.N; i++ {
		buf = AppendLower(buf[:0], s)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]string{
		"2024-05-01T10:00:00.123Z":  "2024-05-01T10:00:00.123Z",
		"2024-05-01 10:00:00.123":   "2024-05-01T10:00:00.123Z",
		"2024-05-01T12:00:00+02:00": "2024-05-01T10:00:00Z",
		" 2024-05-01 ":              "2024-05-01T00:00:00Z",
		"1714557600":                "2024-05-01T10:00:00Z",
		"1714557600000":             "2024-05-01T10:00:00Z",
		"05/01/2024 10:00:00":       "2024-05-01T10:00:00Z",
	} {
		got, ok := ParseTime(in)
		if !ok || got.Format("2006-01-02T15:04:05.999999999Z07:00") != want {
			t.Errorf("ParseTime(%q) = %v %v, want %s", in, got, ok, want)
		}
	}
	if _, ok := ParseTime("yesterday"); ok {
		t.Error("ParseTime(yesterday) succeeded")
	}
}
