package alert

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/event"
)

func testAlert(level string, tags ...string) *Alert {
	ts := time.Date(2026, 3, 4, 9, 15, 9, 481e6, time.UTC)
	return &Alert{
		Rule:      Rule{ID: "id-" + level, Title: "Rule " + level, Level: level, Tags: tags, Type: "detection"},
		Timestamp: &ts,
		Host:      "HOST-1",
		Events: []Event{{
			Source:    event.Source{Path: "a.evtx", RecordID: 42},
			Timestamp: &ts,
			Fields: map[string]any{
				"Channel": "Security", "EventID": "4688", "CommandLine": "cmd.exe /c \"x, y\"\r\n\tz",
				"NewProcessName": `C:\Windows\System32\cmd.exe`,
			},
		}},
	}
}

func TestCSV(t *testing.T) {
	var buf bytes.Buffer
	w := NewCSV(&buf, time.FixedZone("X", 2*3600))
	if err := w.Write(testAlert("high", "attack.execution", "attack.t1059.003")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2026-03-04 11:15:09.481 +02:00", "HOST-1", "Security", "4688", "high", "Rule high", "id-high",
		"execution T1059.003", `CommandLine: cmd.exe /c "x, y" z ¦ NewProcessName: C:\Windows\System32\cmd.exe`, "a.evtx", "42"}
	if len(rows) != 2 || strings.Join(rows[0], "|") != strings.Join(CSVHeader, "|") || strings.Join(rows[1], "|") != strings.Join(want, "|") {
		t.Errorf("rows:\n%q\nwant\n%q", rows, want)
	}
	buf.Reset()
	if err := NewCSV(&buf, nil).Close(); err != nil || buf.String() != strings.Join(CSVHeader, ",")+"\n" {
		t.Errorf("empty CSV %q, %v", buf.String(), err)
	}
}

func TestTable(t *testing.T) {
	var buf bytes.Buffer
	w := NewTable(&buf, TableOptions{Color: true, Width: 100})
	a := testAlert("critical")
	a.Rule.Title = strings.Repeat("Very long title ", 10)
	w.Write(a)
	w.Write(testAlert("low"))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("table:\n%s", buf.String())
	}
	if !strings.Contains(lines[1], "\x1b[1;35mcritical\x1b[0m") || !strings.Contains(lines[1], "…") {
		t.Errorf("critical line: %q", lines[1])
	}
	if !strings.Contains(lines[2], "\x1b[32mlow") {
		t.Errorf("low line: %q", lines[2])
	}
	buf.Reset()
	w = NewTable(&buf, TableOptions{})
	w.Write(testAlert("informational"))
	if strings.Contains(buf.String(), "\x1b") || !strings.Contains(buf.String(), " info ") {
		t.Errorf("no colour: %q", buf.String())
	}
}

func TestAttackLayer(t *testing.T) {
	var buf bytes.Buffer
	l := NewAttackLayer(&buf, "test")
	l.Write(testAlert("high", "attack.t1059.003", "attack.execution"))
	l.Write(testAlert("low", "attack.T1059.003", "attack.t1071"))
	l.Write(testAlert("low", "attack.g0016", "attack.s0002"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var ly Layer
	if err := json.Unmarshal(buf.Bytes(), &ly); err != nil {
		t.Fatal(err)
	}
	got := map[string]LayerTechnique{}
	for _, tc := range ly.Techniques {
		got[tc.TechniqueID] = tc
	}
	if len(got) != 3 || *got["T1059.003"].Score != 2 || *got["T1071"].Score != 1 || got["T1059"].Score != nil || !got["T1059"].ShowSubtechniques {
		t.Errorf("techniques %+v", ly.Techniques)
	}
	if ly.Gradient.MaxValue != 2 || ly.Versions.Layer != LayerVersion || ly.Domain != "enterprise-attack" {
		t.Errorf("layer %+v", ly)
	}
}

func TestElide(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{{"abcdef", 0, "abcdef"}, {"abcdef", 6, "abcdef"}, {"abcdef", 4, "abc…"}, {"ééééé", 3, "éé…"}, {"abc", 1, "…"}} {
		if got := Elide(tc.in, tc.max); got != tc.want {
			t.Errorf("Elide(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
