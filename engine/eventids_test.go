package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/event"
	"github.com/vigil-detect/vigil/sigma"
)

// TestDetectionEventIDs: the event ids a detection requires are found
// only when every way to match needs one of them.
func TestDetectionEventIDs(t *testing.T) {
	for _, c := range []struct {
		name, detection string
		want            []string
	}{
		{"one", "sel:\n  EventID: 4625\n  LogonType: 3\ncondition: sel", []string{"4625"}},
		{"list and string", "sel:\n  EventID: [4624, '4625']\ncondition: sel", []string{"4624", "4625"}},
		{"and narrows", "a:\n  EventID: [1, 2]\nb:\n  EventID: [2, 3]\ncondition: a and b", []string{"2"}},
		{"and with other field", "a:\n  EventID: 7\nb:\n  Image|endswith: x.exe\ncondition: a and not b", []string{"7"}},
		{"or of ids", "a:\n  EventID: 1\nb:\n  EventID: 2\ncondition: a or b", []string{"1", "2"}},
		{"or with unknown", "a:\n  EventID: 1\nb:\n  Image: x\ncondition: a or b", nil},
		{"not", "a:\n  EventID: 1\ncondition: not a", nil},
		{"one of", "sel_a:\n  EventID: 1\nsel_b:\n  EventID: 2\ncondition: 1 of sel_*", []string{"1", "2"}},
		{"all of", "sel_a:\n  EventID: [1, 2]\nsel_b:\n  Image: x\ncondition: all of sel_*", []string{"1", "2"}},
		{"alternatives", "sel:\n  - EventID: 1\n  - EventID: 2\n    Image: x\ncondition: sel", []string{"1", "2"}},
		{"alternative without", "sel:\n  - EventID: 1\n  - Image: x\ncondition: sel", nil},
		{"modifier", "sel:\n  EventID|gte: 4000\ncondition: sel", nil},
		{"wildcard", "sel:\n  EventID: '46*'\ncondition: sel", nil},
		{"leading zero", "sel:\n  EventID: '0461'\ncondition: sel", nil},
		{"fraction", "sel:\n  EventID: 1.5\ncondition: sel", nil},
		{"keywords", "kw:\n  - mimikatz\ncondition: kw", nil},
		{"contradiction", "a:\n  EventID: 1\nb:\n  EventID: 2\ncondition: a and b", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := "title: t\nlogsource:\n  product: windows\n  service: security\ndetection:\n"
			for _, l := range strings.Split(c.detection, "\n") {
				src += "  " + l + "\n"
			}
			coll, errs := sigma.Parse("t.yml", []byte(src))
			if len(errs) > 0 || len(coll.Rules) != 1 {
				t.Fatalf("%v", errs)
			}
			comp := &compiler{schema: event.NewSchema([]string{"EventID", "Image", "LogonType"})}
			got := comp.detectionEventIDs(&coll.Rules[0].Detection, comp.slot("EventID"))
			if !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestEventIDKey(t *testing.T) {
	for in, want := range map[string]string{
		"4625": "4625", " 4625 ": "4625", "04625": "4625", "4625.0": "4625",
		"0": "0", "": "", "x": "", "1.5": "", "-1": "",
	} {
		if got := eventIDKey(in); got != want {
			t.Errorf("eventIDKey(%q) = %q, want %q", in, got, want)
		}
	}
}
