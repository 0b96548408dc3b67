package detect

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/event"
)

// TestMarshalAlert: the alert JSON serve publishes is encoding/json's for
// Alert{ID, Alert} (HTML characters not escaped), written by the alert
// package's encoder.
func TestMarshalAlert(t *testing.T) {
	ts := time.Date(2026, 3, 4, 9, 15, 9, 481000000, time.UTC)
	for _, a := range []*alert.Alert{
		{Rule: alert.Rule{ID: "r1", Title: "Cmd <b>&</b>", Level: "high", Tags: []string{"attack.t1059"}, Type: "detection"},
			Timestamp: &ts, Host: "ws-a",
			Events: []alert.Event{{Source: event.Source{Path: "a.jsonl", Line: 3}, Timestamp: &ts,
				Fields: map[string]any{"Image": `C:\Windows\System32\cmd.exe`, "EventID": json.Number("1"), "x": nil, "l": []any{"a", "é\u2028"}}}}},
		{Rule: alert.Rule{ID: "c1", Title: "Corr", Type: "correlation"}, Group: map[string]string{"Computer": "ws-a"},
			CorrelationType: "temporal", Context: map[string]any{"count": 3, "who": map[string]any{"user": "bob"}}, Advisory: "adv"},
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(Alert{ID: "0123456789abcdef0123456789abcdef", Alert: a}); err != nil {
			t.Fatal(err)
		}
		got, err := marshalAlert("0123456789abcdef0123456789abcdef", a)
		if err != nil {
			t.Fatal(err)
		}
		if w := bytes.TrimRight(want.Bytes(), "\n"); !bytes.Equal(got, w) {
			t.Errorf("got\n%s\nwant\n%s", got, w)
		}
	}
}
