package kql_test

import (
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/sigma"
)

func convertKQL(t *testing.T, pipeline, src string) ([]convert.Query, []error) {
	t.Helper()
	b, _ := convert.Lookup("kql")
	pl, err := convert.LoadPipeline(pipeline)
	if err != nil {
		t.Fatal(err)
	}
	f, perrs := sigma.Parse("t.yml", []byte(src))
	if len(perrs) > 0 {
		t.Fatal(perrs)
	}
	return convert.Convert(&sigma.Collection{Rules: f.Rules, Correlations: f.Correlations}, b, []*convert.Pipeline{pl}, "")
}

func proc(cat, det string) string {
	return "title: T\nlogsource:\n    product: windows\n    category: " + cat + "\ndetection:\n" + det
}

// TestSchemaCheck: fields without a column are left out where they are
// an alternative that can never match, and refuse the rule where leaving
// them out would widen it or nothing is left; values take the column's
// type.
func TestSchemaCheck(t *testing.T) {
	cases := []struct {
		name, pipeline, rule, want string
		warnings                   int
	}{
		{"or-ed item left out", "azure_monitor", proc("process_creation", "    sel_img:\n        - Image|endswith: '\\x.exe'\n        - OriginalFileName: x.exe\n    condition: sel_img\n"),
			"SecurityEvent\n| where EventID == 4688 and NewProcessName endswith @\"\\x.exe\"", 1},
		{"and-ed item: never matches", "azure_monitor", proc("process_creation", "    sel:\n        Image|endswith: '\\x.exe'\n        OriginalFileName: x.exe\n    condition: sel\n"),
			"!t.yml:8:27: kql: SecurityEvent has no column OriginalFileName; columns from", 0},
		{"filter would be lost", "azure_monitor", proc("process_creation", "    sel:\n        Image|endswith: '\\x.exe'\n    filter:\n        ParentCommandLine|contains: y\n    condition: sel and not filter\n"),
			"!would lose the rule's exclusion", 0},
		{"filter alternative would be lost", "azure_monitor", proc("process_creation", "    sel:\n        Image|endswith: '\\x.exe'\n    filter:\n        - ParentCommandLine|contains: y\n        - ParentImage|endswith: '\\y.exe'\n    condition: sel and not filter\n"),
			"!would lose the rule's exclusion", 0},
		{"exists false holds", "azure_monitor", proc("process_creation", "    sel:\n        Image|endswith: '\\x.exe'\n        OriginalFileName|exists: false\n    condition: sel\n"),
			"!would always hold there", 0},
		{"hex id on a long column", "microsoft_xdr", proc("process_creation", "    sel:\n        LogonId: '0x3e7'\n    condition: sel\n"),
			"DeviceProcessEvents\n| where LogonId == 999", 0},
		{"word on a long column", "microsoft_xdr", proc("process_creation", "    sel:\n        - LogonId: 'SYSTEM'\n        - Image|endswith: '\\x.exe'\n    condition: sel\n"),
			"DeviceProcessEvents\n| where FolderPath endswith @\"\\x.exe\"", 1},
		{"number on a string column", "sentinel_asim", "title: T\nlogsource:\n    category: webserver\ndetection:\n    sel:\n        sc-status: 200\n    condition: sel\n",
			"imWebSession\n| where HttpStatusCode == @\"200\"", 0},
		{"datetime column", "sentinel_asim", proc("file_event", "    sel:\n        CreationUtcTime|startswith: '2021'\n    condition: sel\n"),
			"!imFileEvent.TargetFileCreationTime is a datetime column", 0},
		{"path to the path column", "sentinel_asim", proc("file_event", "    sel:\n        TargetFilename|endswith: '\\x\\y.dll'\n    condition: sel\n"),
			"imFileEvent\n| where TargetFilePath endswith @\"\\x\\y.dll\"", 0},
		{"range on a string column", "sentinel_asim", proc("process_creation", "    sel:\n        ProcessId|gt: 4\n    condition: sel\n"),
			"imProcessCreate\n| where todouble(TargetProcessId) > 4", 0},
		{"domain and user", "microsoft_xdr", proc("process_creation", "    sel:\n        User: 'NT AUTHORITY\\SYSTEM'\n        ParentUser|endswith: '\\svc'\n    condition: sel\n"),
			"DeviceProcessEvents\n| where AccountDomain =~ @\"NT AUTHORITY\" and AccountName =~ @\"SYSTEM\" and InitiatingProcessAccountName =~ @\"svc\"", 0},
		{"hash digests", "microsoft_xdr", proc("process_creation", "    sel:\n        Hashes|contains:\n            - 'SHA256=AB12'\n            - 'IMPHASH=0123456789abcdef0123456789abcdef'\n            - 'MD5=0123456789ABCDEF0123456789ABCDEF'\n    condition: sel\n"),
			"DeviceProcessEvents\n| where SHA256 startswith @\"AB12\" or MD5 =~ @\"0123456789ABCDEF0123456789ABCDEF\"", 1},
		{"5156 direction", "azure_monitor", proc("network_connection", "    sel:\n        Initiated: 'true'\n    condition: sel\n"),
			"SecurityEvent\n| where EventID == 5156\n| extend _Data = parse_xml(EventData).EventData.Data\n| mv-apply _d = iff(gettype(_Data) == \"array\", _Data, pack_array(_Data)) to typeof(dynamic) on (summarize _EventData = make_bag(bag_pack(tostring(_d['@Name']), tostring(_d['#text']))))\n| extend Direction = tostring(_EventData[@\"Direction\"])\n| project-away _Data, _EventData\n| where Direction =~ @\"%%14593\"", 0},
		{"unknown table not checked", "microsoft_xdr", proc("process_creation", "    sel:\n        NoSuchField: x\n    condition: sel\n"),
			"!DeviceProcessEvents has no column NoSuchField", 0},
	}
	for _, tc := range cases {
		qs, errs := convertKQL(t, tc.pipeline, tc.rule)
		if strings.HasPrefix(tc.want, "!") {
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want[1:]) {
				t.Errorf("%s: got %v, %v; want refusal %q", tc.name, qs, errs, tc.want[1:])
			}
			continue
		}
		if len(errs) > 0 || len(qs) != 1 || qs[0].Text != tc.want || len(qs[0].Warnings) != tc.warnings {
			t.Errorf("%s: got %v %v; want %q with %d warnings", tc.name, qs, errs, tc.want, tc.warnings)
		}
	}
}

// TestBalancedRuns: a thousand alternatives are written as parenthesised
// runs of at most 32 operands, not one chain of a thousand.
func TestBalancedRuns(t *testing.T) {
	var b strings.Builder
	b.WriteString("    sel:\n        CommandLine|contains:\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("            - 'v" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + "'\n")
	}
	b.WriteString("    condition: sel\n")
	qs, errs := convertKQL(t, "microsoft_xdr", proc("process_creation", b.String()))
	if len(errs) > 0 || len(qs) != 1 {
		t.Fatal(errs)
	}
	depth, run, maxRun := 0, 0, 0
	for _, tok := range strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(qs[0].Text)) {
		switch tok {
		case "(":
			depth++
			run = 0
		case ")":
			depth--
			run = 0
		case "or":
			run++
			maxRun = max(maxRun, run)
		}
	}
	if maxRun >= 32 || maxRun < 2 {
		t.Errorf("longest or run %d", maxRun)
	}
}

// TestEventData: Security event data SecurityEvent has no column for is
// read from its EventData XML after the conditions on real columns; the
// advisory's host + process id sequence reads 5156 and joins its decimal
// ProcessID with 4688's hex NewProcessId.
func TestEventData(t *testing.T) {
	task := "title: T\nlogsource:\n    product: windows\n    service: security\ndetection:\n    sel:\n        EventID: 4698\n        TaskName|contains: '\\Evil'\n    condition: sel\n"
	qs, errs := convertKQL(t, "azure_monitor", task)
	want := "SecurityEvent\n| where EventID == 4698\n| extend _Data = parse_xml(EventData).EventData.Data\n| mv-apply _d = iff(gettype(_Data) == \"array\", _Data, pack_array(_Data)) to typeof(dynamic) on (summarize _EventData = make_bag(bag_pack(tostring(_d['@Name']), tostring(_d['#text']))))\n| extend TaskName = tostring(_EventData[@\"TaskName\"])\n| project-away _Data, _EventData\n| where TaskName contains @\"\\Evil\""
	if len(errs) > 0 || len(qs) != 1 || qs[0].Text != want {
		t.Errorf("got %v %v, want\n%s", qs, errs, want)
	}
	coll, aerrs := advisory.Rules()
	if len(aerrs) > 0 {
		t.Fatal(aerrs)
	}
	b, _ := convert.Lookup("kql")
	pl, _ := convert.LoadPipeline("azure_monitor")
	qs, errs = convert.Convert(coll, b, []*convert.Pipeline{pl}, "")
	if len(qs) != 2 || len(errs) != 2 {
		t.Fatalf("advisory on azure_monitor: %d queries, errors %v", len(qs), errs)
	}
	for _, q := range qs {
		for _, w := range []string{"EventID == 5156", "g1=tolower(NewProcessId)", `g1=strcat("0x", tohex(tolong(ProcessID)))`, "Application endswith @\"\\cmd.exe\""} {
			if !strings.Contains(q.Text, w) {
				t.Errorf("%s: no %s in\n%s", q.Title, w, q.Text)
			}
		}
	}
	for _, e := range errs {
		if !strings.Contains(e.Error(), "group-by ProcessGuid") {
			t.Errorf("refusal %v", e)
		}
	}
}
