package convert_test

import (
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/convert"
	_ "github.com/vigil-detect/vigil/convert/eql"
	_ "github.com/vigil-detect/vigil/convert/esql"
	_ "github.com/vigil-detect/vigil/convert/kql"
	_ "github.com/vigil-detect/vigil/convert/lucene"
	_ "github.com/vigil-detect/vigil/convert/splunk"
	"github.com/vigil-detect/vigil/sigma"
)

// kqlTable gives KQL rules a table without a field mapping.
const kqlTable = `name: t
transformations:
  - type: set_state
    key: query_table
    val: T
`

// convertOne converts one detection (YAML under "detection:") to target
// and returns the query or the refusal.
func convertOne(t *testing.T, target, detection string) (string, error) {
	t.Helper()
	rule := "title: T\nlogsource:\n    product: p\ndetection:\n" + detection
	f, perrs := sigma.Parse("t.yml", []byte(rule))
	if len(perrs) > 0 {
		return "", perrs[0]
	}
	b, ok := convert.Lookup(target)
	if !ok {
		t.Fatalf("no target %s", target)
	}
	var pipes []*convert.Pipeline
	if target == "kql" {
		p, err := convert.ParsePipeline("t", []byte(kqlTable))
		if err != nil {
			t.Fatal(err)
		}
		pipes = append(pipes, p)
	}
	qs, errs := convert.Convert(&sigma.Collection{Rules: f.Rules}, b, pipes, "")
	if len(errs) > 0 {
		return "", errs[0]
	}
	if len(qs) != 1 {
		t.Fatalf("%d queries", len(qs))
	}
	return qs[0].Text, nil
}

// targetCases: each modifier, condition form, escaping, cased, exists,
// fieldref, keywords and the refusals, per target: the expected query,
// or "!" followed by the start of the refusal.
var targetCases = []struct {
	name, det string
	want      map[string]string
}{
	{"exact", "    sel:\n        F: 'a\"b'\n    condition: sel\n", map[string]string{
		"splunk": "F=\"a\\\"b\"",
		"lucene": "F:a\\\"b",
		"eql":    "any where F:\"a\\\"b\"",
		"esql":   "from * metadata _id, _index, _version | where to_lower(F)==\"a\\\"b\"",
		"kql":    "T\n| where F =~ @\"a\"\"b\"",
	}},
	{"contains", "    sel:\n        F|contains: 'x y'\n    condition: sel\n", map[string]string{
		"splunk": "F=\"*x y*\"",
		"lucene": "F:*x\\ y*",
		"eql":    "any where F:\"*x y*\"",
		"esql":   "from * metadata _id, _index, _version | where to_lower(F) like \"*x y*\"",
		"kql":    "T\n| where F contains @\"x y\"",
	}},
	{"startswith", "    sel:\n        F|startswith: 'C:\\Win'\n    condition: sel\n", map[string]string{
		"splunk": "F=\"C:\\\\Win*\"",
		"lucene": "F:C\\:\\\\Win*",
		"eql":    "any where F:\"C:\\\\Win*\"",
		"esql":   "from * metadata _id, _index, _version | where starts_with(to_lower(F), \"c:\\\\win\")",
		"kql":    "T\n| where F startswith @\"C:\\Win\"",
	}},
	{"endswith", "    sel:\n        F|endswith: '\\cmd.exe'\n    condition: sel\n", map[string]string{
		"splunk": "F=\"*\\\\cmd.exe\"",
		"lucene": "F:*\\\\cmd.exe",
		"eql":    "any where F:\"*\\\\cmd.exe\"",
		"esql":   "from * metadata _id, _index, _version | where ends_with(to_lower(F), \"\\\\cmd.exe\")",
		"kql":    "T\n| where F endswith @\"\\cmd.exe\"",
	}},
	{"glob", "    sel:\n        F: 'a*b?c'\n    condition: sel\n", map[string]string{
		"splunk": "*\n| regex F=\"(?i)(?s)^a.*b.c$\"",
		"lucene": "F:a*b?c",
		"eql":    "any where F:\"a*b?c\"",
		"esql":   "from * metadata _id, _index, _version | where to_lower(F) like \"a*b?c\"",
		"kql":    "T\n| where F matches regex @\"(?i)(?s)^a.*b.c$\"",
	}},
	{"escaped", "    sel:\n        F: 'a\\*b'\n    condition: sel\n", map[string]string{
		"splunk": "*\n| regex F=\"(?i)(?s)^a\\*b$\"",
		"lucene": "F:a\\*b",
		"eql":    "any where F regex \"[aA]\\\\*[bB]\"",
		"esql":   "from * metadata _id, _index, _version | where to_lower(F)==\"a*b\"",
		"kql":    "T\n| where F =~ @\"a*b\"",
	}},
	{"all", "    sel:\n        F|contains|all: [a, b]\n    condition: sel\n", map[string]string{
		"splunk": "F=\"*a*\" F=\"*b*\"",
		"lucene": "F:*a* AND F:*b*",
		"eql":    "any where F:\"*a*\" and F:\"*b*\"",
		"esql":   "from * metadata _id, _index, _version | where to_lower(F) like \"*a*\" and to_lower(F) like \"*b*\"",
		"kql":    "T\n| where F contains @\"a\" and F contains @\"b\"",
	}},
	{"cased", "    sel:\n        F|cased: Abc\n    condition: sel\n", map[string]string{
		"splunk": "F=CASE(\"Abc\")",
		"lucene": "F:Abc",
		"eql":    "any where F == \"Abc\"",
		"esql":   "from * metadata _id, _index, _version | where F==\"Abc\"",
		"kql":    "T\n| where F == @\"Abc\"",
	}},
	{"re", "    sel:\n        F|re: 'ab+c'\n    condition: sel\n", map[string]string{
		"splunk": "*\n| regex F=\"ab+c\"",
		"lucene": "F:/.*a(b)+c.*/",
		"eql":    "any where F regex \".*a(b)+c.*\"",
		"esql":   "from * metadata _id, _index, _version | where F rlike \".*a(b)+c.*\"",
		"kql":    "T\n| where F matches regex @\"ab+c\"",
	}},
	{"re_i", "    sel:\n        F|re|i: 'ab+c'\n    condition: sel\n", map[string]string{
		"splunk": "*\n| regex F=\"(?i)ab+c\"",
		"lucene": "F:/.*[aA]([bB])+[cC].*/",
		"eql":    "any where F regex \".*[aA]([bB])+[cC].*\"",
		"esql":   "from * metadata _id, _index, _version | where F rlike \".*[aA]([bB])+[cC].*\"",
		"kql":    "T\n| where F matches regex @\"(?i)ab+c\"",
	}},
	{"cidr", "    sel:\n        F|cidr: 10.0.0.0/8\n    condition: sel\n", map[string]string{
		"splunk": "F=\"10.0.0.0/8\"",
		"lucene": "F:10.0.0.0\\/8",
		"eql":    "any where cidrMatch(F, \"10.0.0.0/8\")",
		"esql":   "from * metadata _id, _index, _version | where cidr_match(F, \"10.0.0.0/8\")",
		"kql":    "T\n| where ipv4_is_in_range(F, @\"10.0.0.0/8\")",
	}},
	{"num", "    sel:\n        F: 4688\n    condition: sel\n", map[string]string{
		"splunk": "F=4688",
		"lucene": "F:4688",
		"eql":    "any where F == 4688",
		"esql":   "from * metadata _id, _index, _version | where F==4688",
		"kql":    "T\n| where F == 4688",
	}},
	{"gt", "    sel:\n        F|gt: 5\n    condition: sel\n", map[string]string{
		"splunk": "F>5",
		"lucene": "F:>5",
		"eql":    "any where F > 5",
		"esql":   "from * metadata _id, _index, _version | where F > 5",
		"kql":    "T\n| where F > 5",
	}},
	{"exists", "    sel:\n        F|exists: true\n    condition: sel\n", map[string]string{
		"splunk": "F=*",
		"lucene": "_exists_:F",
		"eql":    "any where ?F != null",
		"esql":   "from * metadata _id, _index, _version | where F IS NOT NULL",
		"kql":    "T\n| where isnotempty(F)",
	}},
	{"notexists", "    sel:\n        F|exists: false\n    condition: sel\n", map[string]string{
		"splunk": "NOT F=*",
		"lucene": "NOT _exists_:F",
		"eql":    "any where ?F == null",
		"esql":   "from * metadata _id, _index, _version | where F IS NULL",
		"kql":    "T\n| where isempty(F)",
	}},
	{"null", "    sel:\n        F: null\n    condition: sel\n", map[string]string{
		"splunk": "NOT F=*",
		"lucene": "NOT _exists_:F",
		"eql":    "any where ?F == null",
		"esql":   "from * metadata _id, _index, _version | where F IS NULL",
		"kql":    "T\n| where isempty(F)",
	}},
	{"fieldref", "    sel:\n        F|fieldref: G\n    condition: sel\n", map[string]string{
		"splunk": "*\n| where lower('F')=lower('G')",
		"lucene": "!lucene: field reference (fieldref G): Lucene query strings c",
		"eql":    "!eql: field reference (fieldref G): EQL compares fields with ",
		"esql":   "from * metadata _id, _index, _version | where to_lower(F)==to_lower(G)",
		"kql":    "T\n| where tolower(F) == tolower(G)",
	}},
	{"fieldrefc", "    sel:\n        F|fieldref|contains: G\n    condition: sel\n", map[string]string{
		"splunk": "!splunk: fieldref|contains: SPL eval has no substring test th",
		"lucene": "!lucene: field reference (fieldref G): Lucene query strings c",
		"eql":    "!eql: field reference (fieldref G): EQL compares fields with ",
		"esql":   "from * metadata _id, _index, _version | where locate(to_lower(F), to_lower(G)) > 0",
		"kql":    "T\n| where indexof(tolower(F), tolower(G)) >= 0",
	}},
	{"keyword", "    kw:\n        - evil\n    condition: kw\n", map[string]string{
		"splunk": "\"*evil*\"",
		"lucene": "*evil*",
		"eql":    "!eql: keyword search \"*evil*\": EQL has no full-text search",
		"esql":   "!esql: keyword search \"*evil*\": ES|QL has no search over ever",
		"kql":    "!kql: keyword search \"*evil*\": not converted (KQL's search op",
	}},
	{"base64", "    sel:\n        F|base64: abc\n    condition: sel\n", map[string]string{
		"splunk": "F=\"YWJj\"",
		"lucene": "F:YWJj",
		"eql":    "any where F:\"YWJj\"",
		"esql":   "from * metadata _id, _index, _version | where to_lower(F)==\"ywjj\"",
		"kql":    "T\n| where F =~ @\"YWJj\"",
	}},
	{"utf16", "    sel:\n        F|utf16le: abc\n    condition: sel\n", map[string]string{
		"splunk": "!value \"abc\" becomes binary (NUL or invalid UTF-8) after its ",
		"lucene": "!value \"abc\" becomes binary (NUL or invalid UTF-8) after its ",
		"eql":    "!value \"abc\" becomes binary (NUL or invalid UTF-8) after its ",
		"esql":   "!value \"abc\" becomes binary (NUL or invalid UTF-8) after its ",
		"kql":    "!value \"abc\" becomes binary (NUL or invalid UTF-8) after its ",
	}},
	{"windash", "    sel:\n        F|windash|contains: ' -x'\n    condition: sel\n", map[string]string{
		"splunk": "F IN (\"* -x*\", \"* /x*\", \"* –x*\", \"* —x*\", \"* ―x*\")",
		"lucene": "F:(*\\ \\-x* OR *\\ \\/x* OR *\\ –x* OR *\\ —x* OR *\\ ―x*)",
		"eql":    "any where F like~ (\"* -x*\", \"* /x*\", \"* –x*\", \"* —x*\", \"* ―x*\")",
		"esql":   "from * metadata _id, _index, _version | where to_lower(F) like \"* -x*\" or to_lower(F) like \"* /x*\" or to_lower(F) like \"* –x*\" or to_lower(F) like \"* —x*\" or to_lower(F) like \"* ―x*\"",
		"kql":    "T\n| where F contains @\" -x\" or F contains @\" /x\" or F contains @\" –x\" or F contains @\" —x\" or F contains @\" ―x\"",
	}},
	{"not", "    sel:\n        F: a\n    f:\n        G: b\n    condition: sel and not f\n", map[string]string{
		"splunk": "F=\"a\" NOT G=\"b\"",
		"lucene": "F:a AND (NOT G:b)",
		"eql":    "any where F:\"a\" and (not G:\"b\")",
		"esql":   "from * metadata _id, _index, _version | where to_lower(F)==\"a\" and not (to_lower(G)==\"b\")",
		"kql":    "T\n| where F =~ @\"a\" and not(G =~ @\"b\")",
	}},
	{"oneof", "    s1:\n        F: a\n    s2:\n        G: b\n    condition: 1 of s*\n", map[string]string{
		"splunk": "F=\"a\" OR G=\"b\"",
		"lucene": "F:a OR G:b",
		"eql":    "any where F:\"a\" or G:\"b\"",
		"esql":   "from * metadata _id, _index, _version | where to_lower(F)==\"a\" or to_lower(G)==\"b\"",
		"kql":    "T\n| where F =~ @\"a\" or G =~ @\"b\"",
	}},
	{"in", "    sel:\n        F: [a, b]\n    condition: sel\n", map[string]string{
		"splunk": "F IN (\"a\", \"b\")",
		"lucene": "F:(a OR b)",
		"eql":    "any where F like~ (\"a\", \"b\")",
		"esql":   "from * metadata _id, _index, _version | where to_lower(F) in (\"a\", \"b\")",
		"kql":    "T\n| where F in~ (@\"a\", @\"b\")",
	}},
	{"expand", "    sel:\n        F|expand: '%x%'\n    condition: sel\n", map[string]string{
		"splunk": "!modifier \"expand\": placeholders need values, which vigil con",
		"lucene": "!modifier \"expand\": placeholders need values, which vigil con",
		"eql":    "!modifier \"expand\": placeholders need values, which vigil con",
		"esql":   "!modifier \"expand\": placeholders need values, which vigil con",
		"kql":    "!modifier \"expand\": placeholders need values, which vigil con",
	}},
}

func TestTargets(t *testing.T) {
	for _, tc := range targetCases {
		for _, target := range []string{"splunk", "lucene", "eql", "esql", "kql"} {
			want, ok := tc.want[target]
			if !ok {
				continue
			}
			got, err := convertOne(t, target, tc.det)
			if strings.HasPrefix(want, "!") {
				if err == nil {
					t.Errorf("%s/%s: converted to %q, want refusal %q", tc.name, target, got, want[1:])
				} else if !strings.Contains(err.Error(), want[1:]) {
					t.Errorf("%s/%s: refusal %q does not say %q", tc.name, target, err, want[1:])
				}
				continue
			}
			if err != nil {
				t.Errorf("%s/%s: %v", tc.name, target, err)
				continue
			}
			if got != want {
				t.Errorf("%s/%s:\n got  %s\n want %s", tc.name, target, got, want)
			}
		}
	}
}

// TestKQLDefaultXDR: without a pipeline, kql applies microsoft_xdr; the
// advisory's GUID sequence joins on DeviceId + process id + creation
// time, its host + process id sequence on DeviceName + process id, and
// DNS rules are refused with the reason.
func TestKQLDefaultXDR(t *testing.T) {
	b, _ := convert.Lookup("kql")
	pipes, err := convert.DefaultPipelines(b)
	if err != nil || len(pipes) != 1 || pipes[0].Name != "microsoft_xdr" {
		t.Fatalf("default pipelines %v, %v", pipes, err)
	}
	coll, errs := advisory.Rules()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	qs, cerrs := convert.Convert(coll, b, pipes, "")
	if len(cerrs) > 0 || len(qs) != 4 {
		t.Fatalf("%d queries, errors %v", len(qs), cerrs)
	}
	for _, want := range []string{
		"g0=DeviceId, g1=ProcessId, g2=ProcessCreationTime",
		"g0=DeviceId, g1=InitiatingProcessId, g2=InitiatingProcessCreationTime",
		"g0=DeviceName, g1=ProcessId",
		"g0=DeviceName, g1=InitiatingProcessId",
	} {
		found := false
		for _, q := range qs {
			found = found || strings.Contains(q.Text, want)
		}
		if !found {
			t.Errorf("no query projects %s", want)
		}
	}
	for _, q := range qs {
		if strings.Contains(q.Text, "ProcessGuid") || strings.Contains(q.Text, "Computer") || strings.Contains(q.Text, "NewProcessId") {
			t.Errorf("query names a column XDR does not have:\n%s", q.Text)
		}
	}
	dns := "title: D\nlogsource:\n    product: windows\n    category: dns_query\ndetection:\n    sel:\n        QueryName: x\n    condition: sel\n"
	f, _ := sigma.Parse("d.yml", []byte(dns))
	if _, errs := convert.Convert(&sigma.Collection{Rules: f.Rules}, b, pipes, ""); len(errs) != 1 || !strings.Contains(errs[0].Error(), "no DNS query table") {
		t.Errorf("dns rule: %v", errs)
	}
	guid := "title: G\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    sel:\n        ProcessGuid: '{x}'\n    condition: sel\n"
	f, _ = sigma.Parse("g.yml", []byte(guid))
	if _, errs := convert.Convert(&sigma.Collection{Rules: f.Rules}, b, pipes, ""); len(errs) != 1 || !strings.Contains(errs[0].Error(), "DeviceProcessEvents has no column ProcessGuid") {
		t.Errorf("ProcessGuid rule: %v", errs)
	}
	for cat, table := range map[string]string{"file_event": "DeviceFileEvents", "registry_set": "DeviceRegistryEvents", "image_load": "DeviceImageLoadEvents"} {
		r := "title: R\nlogsource:\n    product: windows\n    category: " + cat + "\ndetection:\n    sel:\n        Image|endswith: '\\x.exe'\n    condition: sel\n"
		f, _ := sigma.Parse("r.yml", []byte(r))
		qs, errs := convert.Convert(&sigma.Collection{Rules: f.Rules}, b, pipes, "")
		if len(errs) > 0 || len(qs) != 1 || qs[0].Text != table+"\n| where InitiatingProcessFolderPath endswith @\"\\x.exe\"" {
			t.Errorf("%s: %v %v", cat, qs, errs)
		}
	}
}
