package attack_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/attack"
)

func ExampleTechniqueID() {
	id, _ := attack.TechniqueID("attack.T1059.003")
	fmt.Println(id, attack.TechniqueName(id), attack.TechniqueURL(id))
	t, _ := attack.TacticOf("command_and_control")
	fmt.Println(t.ID, t.Name)
	// Output:
	// T1059.003 Windows Command Shell https://attack.mitre.org/techniques/T1059/003
	// TA0011 Command and Control
}

func TestTechniqueID(t *testing.T) {
	for _, c := range []struct {
		tag, id string
	}{
		{"attack.t1059", "T1059"},
		{"attack.t1059.003", "T1059.003"},
		{"ATTACK.T1566.001", "T1566.001"},
		{"attack.t105", ""},
		{"attack.t10590", ""},
		{"attack.t1059.03", ""},
		{"attack.t1059.003x", ""},
		{"attack.execution", ""},
		{"attack.g0007", ""},
		{"t1059", ""},
		{" attack.t1059", ""},
	} {
		id, ok := attack.TechniqueID(c.tag)
		if id != c.id || ok != (c.id != "") {
			t.Errorf("TechniqueID(%q) = %q, %v; want %q", c.tag, id, ok, c.id)
		}
	}
}

// TestTable: ids and tags are well formed and unique, every tag finds its
// tactic, and every sub-technique's parent is named too.
func TestTable(t *testing.T) {
	tacID := regexp.MustCompile(`^TA\d{4}$`)
	tag := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	ids, tags := map[string]bool{}, map[string]bool{}
	tactics := attack.Tactics()
	if len(tactics) != 14 {
		t.Errorf("%d tactics, want the 14 Enterprise tactics", len(tactics))
	}
	for _, tc := range tactics {
		if !tacID.MatchString(tc.ID) || ids[tc.ID] || tc.Name == "" || len(tc.Tags) == 0 {
			t.Errorf("tactic %+v: bad or repeated id, or no name or tag", tc)
		}
		ids[tc.ID] = true
		for _, g := range tc.Tags {
			if !tag.MatchString(g) || tags[g] {
				t.Errorf("tactic %s: bad or repeated tag %q", tc.ID, g)
			}
			tags[g] = true
			if got, ok := attack.TacticOf(g); !ok || got.ID != tc.ID {
				t.Errorf("TacticOf(%q) = %+v, %v; want %s", g, got, ok, tc.ID)
			}
		}
	}
	if _, ok := attack.TacticOf("command-and-control"); ok {
		t.Errorf("TacticOf takes tag names as the table writes them")
	}
	tactics[0].Tags[0] = "changed"
	if attack.Tactics()[0].Tags[0] == "changed" {
		t.Errorf("Tactics returns the table itself")
	}
	names := attack.Techniques()
	if len(names) == 0 {
		t.Fatal("no techniques")
	}
	for id, name := range names {
		if got, ok := attack.TechniqueID("attack." + strings.ToLower(id)); !ok || got != id || name == "" {
			t.Errorf("technique %q %q: not an id of its tag, or no name", id, name)
		}
		if attack.TechniqueName(id) != name {
			t.Errorf("TechniqueName(%q) = %q, want %q", id, attack.TechniqueName(id), name)
		}
		if parent, _, ok := strings.Cut(id, "."); ok && names[parent] == "" {
			t.Errorf("sub-technique %s without its parent %s", id, parent)
		}
	}
	names["T1059"] = "changed"
	if attack.TechniqueName("T1059") == "changed" {
		t.Errorf("Techniques returns the table itself")
	}
	if attack.TechniqueName("T9999") != "" {
		t.Errorf("an unknown technique has a name")
	}
}
