package partition_test

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-detect/vigil/serve/partition"
)

// ref is the definition: FNV-1a 32 of the lower-cased name, mod n.
func ref(host string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(host)))
	return int(h.Sum32() % uint32(n))
}

func TestOf(t *testing.T) {
	hosts := []string{"", "a", "FIN-WS-042.corp.example", "fin-ws-042.CORP.example", "DC01", "Ünïcode-Host", "host with spaces", "ΣΊΣΥΦΟΣ"}
	for _, h := range hosts {
		for _, n := range []int{1, 2, 3, 16, 64, 1000} {
			if got, want := partition.Of(h, n), ref(h, n); got != want {
				t.Errorf("Of(%q, %d) = %d, want %d", h, n, got, want)
			}
		}
	}
	if partition.Of("DC01.Corp", 16) != partition.Of("dc01.corp", 16) {
		t.Error("case changes the partition")
	}
}

func TestSubject(t *testing.T) {
	for _, c := range []struct {
		host, token string
	}{
		{"", "_"},
		{"FIN-WS-042.corp.example", "fin-ws-042_corp_example"},
		{"a*b>c d", "a_b_c_d"},
		{"é", "__"},
		{"HOST_1", "host_1"},
	} {
		if got := partition.Token(c.host); got != c.token {
			t.Errorf("Token(%q) = %q, want %q", c.host, got, c.token)
		}
		subj := partition.Subject(c.host, 16)
		want := "vigil.events." + strconv.Itoa(ref(c.host, 16)) + "." + c.token
		if subj != want {
			t.Errorf("Subject(%q) = %q, want %q", c.host, subj, want)
		}
		p, ok := partition.Parse(subj, 16)
		if !ok || p != ref(c.host, 16) {
			t.Errorf("Parse(%q) = %d, %v", subj, p, ok)
		}
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		subj string
		p    int
		ok   bool
	}{
		{"vigil.events.0.host", 0, true},
		{"vigil.events.15.h", 15, true},
		{"vigil.events.16.h", 0, false},
		{"vigil.events.raw", 0, false},
		{"vigil.events.01.h", 0, false},
		{"vigil.events.1", 0, false},
		{"vigil.events.1.", 0, false},
		{"vigil.events.1.a.b", 0, false},
		{"vigil.events.-1.a", 0, false},
		{"vigil.alerts.high", 0, false},
	} {
		p, ok := partition.Parse(c.subj, 16)
		if p != c.p || ok != c.ok {
			t.Errorf("Parse(%q) = %d, %v; want %d, %v", c.subj, p, ok, c.p, c.ok)
		}
	}
	if got := partition.Filter(3); got != "vigil.events.3.*" {
		t.Errorf("Filter(3) = %q", got)
	}
}

func ExampleSubject() {
	fmt.Println(partition.Of("FIN-WS-042.corp.example", 16))
	fmt.Println(partition.Subject("FIN-WS-042.corp.example", 16))
	// Output:
	// 14
	// vigil.events.14.fin-ws-042_corp_example
}

// FuzzParse: Parse never panics, accepts only subjects of the partition
// form, and recognizes every subject that Subject makes.
func FuzzParse(f *testing.F) {
	f.Add("vigil.events.3.host", "FIN-WS-042.corp.example")
	f.Add("vigil.events.raw", "")
	f.Add("vigil.events.01.x", "ünï")
	f.Fuzz(func(t *testing.T, subject, host string) {
		if p, ok := partition.Parse(subject, 16); ok {
			if p < 0 || p >= 16 || !strings.HasPrefix(subject, partition.Prefix) || strings.Count(subject, ".") != 3 {
				t.Fatalf("Parse(%q) = %d, true", subject, p)
			}
		}
		s := partition.Subject(host, 16)
		if p, ok := partition.Parse(s, 16); !ok || p != partition.Of(host, 16) {
			t.Fatalf("Parse(Subject(%q)) = %d, %v", host, p, ok)
		}
	})
}
