package convert_test

import (
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/sigma"
)

// convertWith converts one rule (full YAML) to target with the named
// pipelines and format.
func convertWith(t *testing.T, target, format, rule string, pipelines ...string) (string, error) {
	t.Helper()
	b, ok := convert.Lookup(target)
	if !ok {
		t.Fatalf("no target %s", target)
	}
	var pipes []*convert.Pipeline
	for _, n := range pipelines {
		p, err := convert.LoadPipeline(n)
		if err != nil {
			t.Fatal(err)
		}
		pipes = append(pipes, p)
	}
	f, perrs := sigma.Parse("t.yml", []byte(rule))
	if len(perrs) > 0 {
		return "", perrs[0]
	}
	qs, errs := convert.Convert(&sigma.Collection{Rules: f.Rules, Correlations: f.Correlations}, b, pipes, format)
	if len(errs) > 0 {
		return "", errs[0]
	}
	var out []string
	for _, q := range qs {
		out = append(out, q.Text)
	}
	return strings.Join(out, "\n\n"), nil
}

func rule(cat, det string) string {
	return "title: T\nlogsource:\n    product: windows\n    category: " + cat + "\ndetection:\n" + det
}

// TestSplunkDataModel: tstats over CIM data models; what tstats' where
// cannot evaluate is filtered after it, on by fields; what a data model
// cannot express is refused.
func TestSplunkDataModel(t *testing.T) {
	cases := []struct{ name, cat, det, want string }{
		{"network", "network_connection", "    sel:\n        DestinationPort: 443\n        Image|endswith: '\\x.exe'\n    condition: sel\n",
			"from datamodel=Network_Traffic.All_Traffic where All_Traffic.dest_port=443 All_Traffic.app=\"*\\\\x.exe\" by All_Traffic.dvc"},
		{"cased", "process_creation", "    sel:\n        CommandLine|cased: Foo\n    condition: sel\n",
			"by Processes.process Processes.dest Processes.process_current_directory Processes.process_path Processes.process_integrity_level Processes.original_file_name Processes.parent_process Processes.parent_process_path Processes.parent_process_guid Processes.parent_process_id Processes.process_guid Processes.process_id Processes.user\n| search Processes.process=CASE(\"Foo\")\n| `drop_dm_object_name(Processes)`"},
		{"keyword", "process_creation", "    keywords:\n        - foo\n    condition: keywords\n", "!(keyword)"},
		{"null", "process_creation", "    sel:\n        CommandLine: null\n    condition: sel\n", "!exists/null"},
		{"unsupported field", "process_creation", "    sel:\n        Hashes|contains: x\n    condition: sel\n", "!supports only the following fields"},
		{"log source", "image_load", "    sel:\n        Image: x\n    condition: sel\n", "!Rule type not yet supported"},
	}
	for _, tc := range cases {
		got, err := convertWith(t, "splunk", "data_model", rule(tc.cat, tc.det), "splunk_cim")
		if strings.HasPrefix(tc.want, "!") {
			if err == nil || !strings.Contains(err.Error(), tc.want[1:]) {
				t.Errorf("%s: got %q, %v; want refusal %q", tc.name, got, err, tc.want[1:])
			}
			continue
		}
		if err != nil || !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %q, %v; want it to contain %q", tc.name, got, err, tc.want)
		}
	}
	corr := rule("process_creation", "    sel:\n        CommandLine: x\n    condition: sel\n") + "name: r\n---\ntitle: C\ncorrelation:\n    type: event_count\n    rules: r\n    group-by: [Computer]\n    timespan: 5m\n    condition:\n        gte: 2\n"
	if _, err := convertWith(t, "splunk", "data_model", corr, "splunk_cim"); err == nil || !strings.Contains(err.Error(), "data_model format") {
		t.Errorf("correlation: %v", err)
	}
	if _, err := convertWith(t, "splunk", "data_model", rule("process_creation", "    sel:\n        CommandLine: x\n    condition: sel\n")); err == nil || !strings.Contains(err.Error(), "No data model specified") {
		t.Errorf("no pipeline: %v", err)
	}
}

// TestKQLPipelines: sentinel_asim (ASIM parsers) and azure_monitor
// (SecurityEvent, hex process ids).
func TestKQLPipelines(t *testing.T) {
	proc := rule("process_creation", "    sel:\n        Image|endswith: '\\cmd.exe'\n        ProcessId: 6700\n    condition: sel\n")
	cases := []struct{ pipeline, rule, want string }{
		{"sentinel_asim", proc, "imProcessCreate\n| where TargetProcessName endswith @\"\\cmd.exe\" and TargetProcessId =~ @\"6700\""},
		{"sentinel_asim", rule("registry_set", "    sel:\n        TargetObject|contains: '\\Run\\'\n    condition: sel\n"), "imRegistry\n| where RegistryKey contains @\"\\Run\\\""},
		{"sentinel_asim", rule("network_connection", "    sel:\n        DestinationPort: 443\n    condition: sel\n"), "imNetworkSession\n| where DstPortNumber == 443"},
		{"sentinel_asim", rule("network_connection", "    sel:\n        Initiated: 'true'\n    condition: sel\n"), "!NetworkDirection"},
		{"sentinel_asim", rule("image_load", "    sel:\n        Image: x\n    condition: sel\n"), "!not yet supported by the Sentinel ASIM pipeline"},
		{"azure_monitor", proc, "SecurityEvent\n| where EventID == 4688 and NewProcessName endswith @\"\\cmd.exe\" and NewProcessId =~ @\"0x1a2c\""},
		{"azure_monitor", "title: T\nlogsource:\n    product: windows\n    service: security\ndetection:\n    sel:\n        EventID: 4624\n        LogonType: 3\n    condition: sel\n", "SecurityEvent\n| where EventID == 4624 and LogonType == 3"},
		{"azure_monitor", rule("network_connection", "    sel:\n        DestinationPort: 443\n    condition: sel\n"), "SecurityEvent\n| where EventID == 5156\n| extend _Data = parse_xml(EventData).EventData.Data\n| mv-apply _d = iff(gettype(_Data) == \"array\", _Data, pack_array(_Data)) to typeof(dynamic) on (summarize _EventData = make_bag(bag_pack(tostring(_d['@Name']), tostring(_d['#text']))))\n| extend DestPort = tostring(_EventData[@\"DestPort\"])\n| project-away _Data, _EventData\n| where DestPort == @\"443\""},
		{"azure_monitor", rule("process_creation", "    sel:\n        ProcessId|gt: 4\n    condition: sel\n"), "!hex string"},
	}
	for _, tc := range cases {
		got, err := convertWith(t, "kql", "", tc.rule, tc.pipeline)
		if strings.HasPrefix(tc.want, "!") {
			if err == nil || !strings.Contains(err.Error(), tc.want[1:]) {
				t.Errorf("%s: got %q, %v; want refusal %q", tc.pipeline, got, err, tc.want[1:])
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s:\n got  %q, %v\n want %q", tc.pipeline, got, err, tc.want)
		}
	}
}
