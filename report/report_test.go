package report_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/proctree"
	"github.com/vigil-detect/vigil/report"
)

// synthetic returns n alerts shaped like Sysmon process-creation
// detections (about 30 fields each, as EVTX gives), over 20 hosts and 50
// rules, and an index holding their process starts.
func synthetic(n int) ([]*alert.Alert, *proctree.Index) {
	levels := []string{"informational", "low", "medium", "high", "critical"}
	ix := proctree.NewIndex()
	t0 := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	out := make([]*alert.Alert, n)
	for i := range n {
		ts := t0.Add(time.Duration(i) * time.Second)
		host := fmt.Sprintf("WS-%02d.corp.example", i%20)
		guid := fmt.Sprintf("{6C1B9A20-4E3D-6405-%04X-%012X}", i%65536, i)
		parent := fmt.Sprintf("{6C1B9A20-4E3D-6405-%04X-%012X}", (i/10)%65536, i/10)
		f := map[string]any{
			"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": float64(1), "Computer": host,
			"EventRecordID": float64(100000 + i), "Provider_Name": "Microsoft-Windows-Sysmon",
			"Provider_Guid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}", "Level": float64(4), "Task": float64(1),
			"Keywords": "0x8000000000000000", "Version": float64(5), "Opcode": float64(0),
			"Execution_ProcessID": float64(1936), "Execution_ThreadID": float64(1644), "Security_UserID": "S-1-5-18",
			"TimeCreated_SystemTime": ts.Format(time.RFC3339Nano), "UtcTime": ts.Format("2006-01-02 15:04:05.000"),
			"ProcessGuid": guid, "ProcessId": float64(1000 + i%50000), "Image": `C:\Windows\System32\cmd.exe`,
			"FileVersion": "6.1.7601.17514", "Description": "Windows Command Processor", "Product": "Microsoft Windows Operating System",
			"Company": "Microsoft Corporation", "OriginalFileName": "Cmd.Exe",
			"CommandLine":      fmt.Sprintf(`cmd.exe /c "C:\Users\user%d\AppData\Local\Temp\update%d.bat"`, i%100, i),
			"CurrentDirectory": `C:\Windows\system32\`, "User": fmt.Sprintf(`CORP\user%d`, i%100),
			"LogonGuid": "{365ABB72-C494-5CC8-0000-0020E4FF0000}", "LogonId": "0xffe4", "TerminalSessionId": float64(1),
			"IntegrityLevel": "High", "Hashes": "SHA1=EE8CBF12D87C4D388F09B4F69BED2E91682920B5,MD5=AD7B9C14083B52BC532FBA5948342B98,SHA256=17F746D82695FA9B35493B41859D39D786D32B23A9D2E00F4011DEC7A02402AE",
			"ParentProcessGuid": parent, "ParentProcessId": float64(900 + i/10%50000),
			"ParentImage":       `C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE`,
			"ParentCommandLine": `"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n "C:\Users\jdoe\Downloads\Invoice.docm"`,
		}
		a := &alert.Alert{
			Rule: alert.Rule{ID: fmt.Sprintf("rule-%02d", i%50), Title: fmt.Sprintf("Suspicious Command Line %d", i%50),
				Level: levels[i%5], Status: "test", Tags: []string{"attack.execution", "attack.t1059.003"}, Type: "detection",
				Path: "rules/windows/process_creation/proc_creation_win_cmd.yml"},
			Timestamp: &ts, Host: host,
			Events: []alert.Event{{Source: event.Source{Path: "logs/Security.evtx", RecordID: uint64(100000 + i)}, Timestamp: &ts, Fields: f}},
		}
		out[i] = a
		ix.RecordStart(proctree.StartOf(proctree.Map(f), host, ts, a.Events[0].Source))
	}
	return out, ix
}

var dataBlock = regexp.MustCompile(`(?s)<script type="application/octet-stream" id="vigil-data" data-encoding="gzip-base64">(.*?)</script>`)

// pageData extracts and decodes the report's data block.
func pageData(t testing.TB, html []byte) map[string]any {
	t.Helper()
	m := dataBlock.FindSubmatch(html)
	if m == nil {
		t.Fatal("no data block in the report")
	}
	zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.NewDecoder(zr).Decode(&d); err != nil {
		t.Fatalf("data block: %v", err)
	}
	return d
}

func TestWriterCapAndTrees(t *testing.T) {
	alerts, ix := synthetic(30)
	var buf bytes.Buffer
	w := report.New(&buf, report.Options{Title: "t", Index: ix, MaxAlerts: 25, Now: time.Unix(0, 0)})
	for _, a := range alerts {
		if err := w.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	w.SetSummary(map[string]any{"alerts": map[string]any{"total": 30}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	d := pageData(t, buf.Bytes())
	if got := len(d["alerts"].([]any)); got != 25 {
		t.Errorf("%d alerts in the page, want 25 (the cap)", got)
	}
	if got := d["omitted"].(float64); got != 5 {
		t.Errorf("omitted %v, want 5", got)
	}
	trees := d["trees"].([]any)
	procs := d["procs"].([]any)
	// Alert 12's parent is the process of alert 1 ((12/10) = 1).
	tr := trees[12].(map[string]any)
	anc := tr["a"].([]any)
	if len(anc) == 0 {
		t.Fatalf("alert 12 has no ancestor: %v", tr)
	}
	p := procs[int(anc[0].(float64))].(map[string]any)
	if !strings.Contains(p["guid"].(string), "000000000001}") {
		t.Errorf("alert 12's parent is %v, want the process of alert 1", p["guid"])
	}
	// Alert 1's children are alerts 10..19.
	kids := trees[1].(map[string]any)["c"].([]any)
	if len(kids) != 10 {
		t.Errorf("alert 1 has %d children, want 10", len(kids))
	}
}

// TestWriterEscapes: every '<' in alert data is written as \u003c, so
// that a field cannot close the data block.
func TestWriterEscapes(t *testing.T) {
	ts := time.Unix(0, 0).UTC()
	payload := `</script><script>alert(1)</script><!--`
	a := &alert.Alert{Rule: alert.Rule{ID: "x", Title: payload, Tags: []string{}}, Timestamp: &ts, Host: payload,
		Events: []alert.Event{{Fields: map[string]any{payload: payload, "CommandLine": payload}}}}
	var buf bytes.Buffer
	w := report.New(&buf, report.Options{Title: payload, Inputs: []string{payload}})
	if err := w.Write(a); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if n := strings.Count(html, "</script>"); n != 2 {
		t.Errorf("%d </script> in the page, want 2 (the data block's and the script's)", n)
	}
	if strings.Contains(html, "<script>alert") {
		t.Error("the payload reached the page as markup")
	}
	d := pageData(t, buf.Bytes())
	got := d["alerts"].([]any)[0].(map[string]any)["host"]
	if got != payload {
		t.Errorf("host decoded as %q, want %q", got, payload)
	}
}

// BenchmarkReport measures report generation: alerts written and the page
// closed, per alert, and the page size (docs/performance.md).
func BenchmarkReport(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		alerts, ix := synthetic(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var size int64
			for b.Loop() {
				cw := &countWriter{}
				w := report.New(cw, report.Options{Title: "bench", Index: ix})
				for _, a := range alerts {
					if err := w.Write(a); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				size = cw.n
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
			b.ReportMetric(float64(size)/(1<<20), "MiB")
		})
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
