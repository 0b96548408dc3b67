package convert_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/convert"
	_ "github.com/vigil-detect/vigil/convert/eql"
)

// TestAdvisoryEQLMatchesElasticRule checks that the advisory's Office and
// script rules, converted to EQL with ecs_windows, have the structure of
// Elastic's prebuilt rule "Suspicious Command Prompt Network Connection":
//
//	sequence by process.entity_id with maxspan=15s
//	  [process where event.type == "start" and process.name : "cmd.exe" and (script/URL args or Office parent)]
//	  [network where process.name : "cmd.exe" and not cidrmatch(destination.ip, <private ranges>)]
func TestAdvisoryEQLMatchesElasticRule(t *testing.T) {
	coll, errs := advisory.Rules()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b, _ := convert.Lookup("eql")
	pl, err := convert.LoadPipeline("ecs_windows")
	if err != nil {
		t.Fatal(err)
	}
	qs, cerrs := convert.Convert(coll, b, []*convert.Pipeline{pl}, "")
	if len(cerrs) > 0 {
		t.Fatal(cerrs)
	}
	head := regexp.MustCompile(`^sequence by process\.entity_id with maxspan=15s\n  \[process where event\.type == "start" and (.*)\]\n  \[network where (.*)\]$`)
	found := map[string]bool{}
	for _, q := range qs {
		if !strings.Contains(q.Title, "(by process GUID)") {
			continue
		}
		m := head.FindStringSubmatch(q.Text)
		if m == nil {
			t.Errorf("%s: not a two-step sequence by process.entity_id with maxspan=15s of a process start and a network event:\n%s", q.Title, q.Text)
			continue
		}
		start, conn := m[1], m[2]
		for _, want := range []string{`process.executable:"*\\cmd.exe"`, `process.command_line regex`} {
			if !strings.Contains(start, want) {
				t.Errorf("%s: start lacks %s", q.Title, want)
			}
		}
		switch {
		case strings.Contains(q.Title, "Office"):
			found["office"] = true
			for _, app := range []string{"winword.exe", "excel.exe", "powerpnt.exe", "outlook.exe"} {
				if !strings.Contains(start, `process.parent.executable`) || !strings.Contains(start, app) {
					t.Errorf("%s: start lacks the Office parent %s", q.Title, app)
				}
			}
		case strings.Contains(q.Title, "Script"):
			found["script"] = true
			for _, s := range []string{"http://", "https://", "ftp://", "[bB][aA][tT]", "[cC][mM][dD]"} {
				if !strings.Contains(start, s) {
					t.Errorf("%s: start lacks %s", q.Title, s)
				}
			}
		}
		if !strings.HasPrefix(conn, `process.executable:"*\\cmd.exe"`) {
			t.Errorf("%s: connection not from cmd.exe: %.80s", q.Title, conn)
		}
		for _, r := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "fc00::/7"} {
			if !strings.Contains(conn, `cidrMatch(destination.ip, "`+r+`")`) {
				t.Errorf("%s: connection does not exclude %s", q.Title, r)
			}
		}
		if !strings.Contains(conn, "(not (") {
			t.Errorf("%s: excluded ranges are not negated", q.Title)
		}
	}
	if !found["office"] || !found["script"] {
		t.Errorf("missing sequences: %v", found)
	}
}
