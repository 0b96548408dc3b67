package mapping_test

import (
	"bufio"
	"os"
	"testing"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/source/jsonl"
)

// TestNormalize decodes one event of each mapped shape and checks the
// Sigma-named fields the normalizer adds.
func TestNormalize(t *testing.T) {
	tbl := mapping.Default()
	schema := event.NewSchema(tbl.Fields().Names())
	norm, err := mapping.NewNormalizer(tbl.Fields(), tbl, schema)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		// Security 4688: new process id in decimal, creator as parent.
		{"Image": `C:\Windows\System32\cmd.exe`, "ParentImage": `C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE`, "ProcessId": "6700", "ParentProcessId": "6956", "User": `CORP\jdoe`},
		// Security 5156: device path kept, addresses renamed.
		{"Image": `\device\harddiskvolume3\windows\system32\cmd.exe`, "ProcessId": "6700", "DestinationIp": "8.8.8.8", "DestinationPort": "443", "Protocol": "tcp", "Initiated": "true"},
		// ECS without a Windows channel: aliases and a routed channel.
		{"Image": `C:\Windows\System32\cmd.exe`, "CommandLine": "cmd.exe /c x.bat", "ProcessGuid": "abc", "Computer": "ws2", "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": "1"},
		// Security 4688 with a target account: the new process's user.
		{"User": `NT AUTHORITY\SYSTEM`, "ProcessId": "16"},
	}
	f, err := os.Open("testdata/shapes.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var dec jsonl.Decoder
	ev := event.New(schema)
	for i := 0; sc.Scan(); i++ {
		if err := dec.Decode(sc.Bytes(), ev); err != nil {
			t.Fatal(err)
		}
		norm.Apply(ev)
		for k, v := range want[i] {
			if got, ok := ev.Get(k); !ok || got != v {
				t.Errorf("event %d: %s = %q (present %v), want %q", i+1, k, got, ok, v)
			}
		}
	}
}

// TestLoadOverride checks that a user mapping file adds log sources and
// field mappings to the built-in ones.
func TestLoadOverride(t *testing.T) {
	p := t.TempDir() + "/m.yml"
	err := os.WriteFile(p, []byte(`
logsources:
  - category: proxy
    sources:
      - channel: Squid
events:
  - channel: Squid
    eventids: [1]
    fields:
      - {name: c-uri, from: url}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := mapping.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if srcs, ok := tbl.Resolve("proxy", "", ""); !ok || len(srcs) != 1 || srcs[0].Channel != "Squid" {
		t.Fatalf("proxy resolves to %v %v", srcs, ok)
	}
	if srcs, ok := tbl.Resolve("process_creation", "windows", ""); !ok || len(srcs) != 2 {
		t.Fatalf("built-in process_creation lost: %v", srcs)
	}
	if _, err := mapping.Load(t.TempDir() + "/missing.yml"); err == nil {
		t.Fatal("missing file: no error")
	}
}
