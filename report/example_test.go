package report_test

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/proctree"
	"github.com/vigil-detect/vigil/report"
)

// A report of one alert: write the alerts, set the run summary, Close.
func ExampleNew() {
	ts := time.Date(2026, 3, 4, 9, 15, 9, 0, time.UTC)
	var page bytes.Buffer
	w := report.New(&page, report.Options{Title: "vigil hunt logs/", Index: proctree.NewIndex(), MaxAlerts: 1})
	for range 2 {
		w.Write(&alert.Alert{
			Rule:      alert.Rule{ID: "r1", Title: "Command Prompt Started by Word", Level: "medium", Tags: []string{"attack.t1059.003"}, Type: "detection"},
			Timestamp: &ts, Host: "FIN-WS-042",
			Events: []alert.Event{{Timestamp: &ts, Fields: map[string]any{"Image": `C:\Windows\System32\cmd.exe`, "ProcessGuid": "{1}"}}},
		})
	}
	w.SetSummary(map[string]any{"alerts": map[string]any{"total": 2}})
	if err := w.Close(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(w.Alerts(), "alert kept,", w.Omitted(), "omitted")
	fmt.Println(strings.HasPrefix(page.String(), "<!DOCTYPE html>"), strings.Contains(page.String(), `http-equiv="Content-Security-Policy"`))
	// Output:
	// 1 alert kept, 1 omitted
	// true true
}
