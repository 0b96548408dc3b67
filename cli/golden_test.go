package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/internal/corpus"
)

var updateGolden = flag.Bool("update", false, "rewrite cli/testdata/golden from the current output")

// goldenCase is a hunt whose output, in every format, is compared with
// the files cli/testdata/golden/NAME.{table,jsonl,json,csv,layer.json}.
type goldenCase struct {
	name string
	dir  string // working directory the arguments are relative to
	args []string
}

var goldenFormats = []string{"table", "jsonl", "json", "csv"}

func runGolden(t *testing.T, gc goldenCase) {
	golden, err := filepath.Abs(filepath.Join("testdata", "golden"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(gc.dir)
	layer := filepath.Join(t.TempDir(), "layer.json")
	for _, format := range goldenFormats {
		args := append([]string{"hunt", "--quiet", "--workers", "2", "--format", format}, gc.args...)
		if format == "jsonl" {
			args = append(args, "--attack-layer", layer)
		}
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
		if code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		compareGolden(t, filepath.Join(golden, gc.name+"."+format), out.Bytes())
		checkFormat(t, format, out.Bytes())
	}
	data, err := os.ReadFile(layer)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, filepath.Join(golden, gc.name+".layer.json"), data)
	validateLayer(t, data)
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cli -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d (go test ./cli -run Golden -update rewrites it):\n got: %s\nwant: %s", filepath.Base(path), i+1, g, w)
			}
		}
	}
}

// checkFormat parses each output with a parser of its format.
func checkFormat(t *testing.T, format string, out []byte) {
	t.Helper()
	switch format {
	case "jsonl":
		for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
			var a alert.Alert
			if err := json.Unmarshal(l, &a); err != nil {
				t.Fatalf("jsonl: %v: %s", err, l)
			}
		}
	case "json":
		var as []alert.Alert
		if err := json.Unmarshal(out, &as); err != nil {
			t.Fatalf("json: %v", err)
		}
	case "csv":
		rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("csv: %v", err)
		}
		want := []string{"Timestamp", "Computer", "Channel", "EventID", "Level", "RuleTitle", "RuleID", "MitreAttack", "Details", "SourcePath", "SourceRecord"}
		if strings.Join(rows[0], ",") != strings.Join(want, ",") {
			t.Fatalf("csv header %q, want %q", rows[0], want)
		}
		ts := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}( [+-]\d\d:\d\d)?$`)
		for i, r := range rows[1:] {
			if len(r) != len(want) {
				t.Fatalf("csv row %d: %d columns", i+2, len(r))
			}
			if !ts.MatchString(r[0]) || r[4] == "" || r[5] == "" || r[6] == "" || r[9] == "" || r[10] == "" {
				t.Errorf("csv row %d: %q", i+2, r)
			}
		}
	case "table":
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if !strings.HasPrefix(lines[0], "TIME ") {
			t.Fatalf("table header %q", lines[0])
		}
		col := strings.Index(lines[0], "DETAILS")
		for _, l := range lines[1:] {
			if []rune(l)[col-2] != ' ' {
				t.Errorf("table columns not aligned:\n%s\n%s", lines[0], l)
			}
		}
	}
}

// validateLayer checks an ATT&CK Navigator layer against the required and
// typed fields of the layer format 4.x.
func validateLayer(t *testing.T, data []byte) {
	t.Helper()
	var l map[string]any
	if err := json.Unmarshal(data, &l); err != nil {
		t.Fatalf("layer: %v", err)
	}
	for _, k := range []string{"name", "versions", "domain", "techniques", "gradient", "legendItems"} {
		if _, ok := l[k]; !ok {
			t.Errorf("layer lacks %q", k)
		}
	}
	if name, _ := l["name"].(string); name == "" {
		t.Error("layer name empty")
	}
	v, _ := l["versions"].(map[string]any)
	if layer, _ := v["layer"].(string); !strings.HasPrefix(layer, "4.") {
		t.Errorf("versions.layer %v, want 4.x", v["layer"])
	}
	for _, k := range []string{"attack", "navigator"} {
		if s, _ := v[k].(string); s == "" {
			t.Errorf("versions.%s missing", k)
		}
	}
	if l["domain"] != "enterprise-attack" {
		t.Errorf("domain %v", l["domain"])
	}
	id := regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)
	techs, _ := l["techniques"].([]any)
	if len(techs) == 0 {
		t.Error("no technique in the layer")
	}
	for _, x := range techs {
		tc, _ := x.(map[string]any)
		tid, _ := tc["techniqueID"].(string)
		if !id.MatchString(tid) {
			t.Errorf("techniqueID %q", tid)
		}
		if s, ok := tc["score"]; ok {
			if _, isNum := s.(float64); !isNum {
				t.Errorf("%s: score %v not a number", tid, s)
			}
		}
		for _, k := range []string{"comment", "color"} {
			if s, ok := tc[k]; ok {
				if _, isStr := s.(string); !isStr {
					t.Errorf("%s: %s not a string", tid, k)
				}
			}
		}
		if e, ok := tc["enabled"]; ok {
			if _, isBool := e.(bool); !isBool {
				t.Errorf("%s: enabled not a boolean", tid)
			}
		}
	}
	g, _ := l["gradient"].(map[string]any)
	colors, _ := g["colors"].([]any)
	_, minOK := g["minValue"].(float64)
	_, maxOK := g["maxValue"].(float64)
	if len(colors) < 2 || !minOK || !maxOK {
		t.Errorf("gradient %v", g)
	}
	for _, x := range l["legendItems"].([]any) {
		li, _ := x.(map[string]any)
		if _, ok := li["label"].(string); !ok {
			t.Errorf("legend item %v", li)
		}
		if _, ok := li["color"].(string); !ok {
			t.Errorf("legend item %v", li)
		}
	}
}

func TestGoldenExample(t *testing.T) {
	runGolden(t, goldenCase{
		name: "example",
		dir:  "..",
		args: []string{"--rules", "testdata/example/rules", "--builtin", "testdata/example"},
	})
}

func TestGoldenCorpus(t *testing.T) {
	dir := corpus.Require(t, "sigma", "rules", "windows")
	corpus.Require(t, "hayabusa-sample-evtx")
	corpus.Require(t, "evtx-attack-samples")
	runGolden(t, goldenCase{
		name: "corpus",
		dir:  filepath.Dir(filepath.Dir(filepath.Dir(dir))),
		args: []string{"--rules", "sigma/rules/windows",
			"hayabusa-sample-evtx/DeepBlueCLI/metasploit-psexec-native-target-security.evtx",
			"hayabusa-sample-evtx/DeepBlueCLI/metasploit-psexec-powershell-target-system.evtx",
			"hayabusa-sample-evtx/DeepBlueCLI/new-user-security.evtx",
			"evtx-attack-samples/Execution/exec_sysmon_1_ftp.evtx",
			"evtx-attack-samples/Lateral Movement/LM_sysmon_psexec_smb_meterpreter.evtx",
		},
	})
}
