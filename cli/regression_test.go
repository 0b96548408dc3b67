package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-detect/vigil/internal/corpus"
)

type regressionInfo struct {
	RuleMetadata []struct {
		ID    string `yaml:"id"`
		Title string `yaml:"title"`
	} `yaml:"rule_metadata"`
	Tests []struct {
		Name       string `yaml:"name"`
		Type       string `yaml:"type"`
		MatchCount int    `yaml:"match_count"`
		Path       string `yaml:"path"`
	} `yaml:"regression_tests_info"`
}

var ruleIDRe = regexp.MustCompile(`(?m)^id:\s*['"]?([0-9a-fA-F-]{36})`)

// indexRules maps rule ids to rule files across the SigmaHQ rule folders.
func indexRules(t *testing.T, root string) map[string]string {
	idx := map[string]string{}
	for _, sub := range []string{"rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder", "rules-compliance", "deprecated"} {
		filepath.WalkDir(filepath.Join(root, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yml") {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if m := ruleIDRe.FindSubmatch(data); m != nil {
				idx[string(m[1])] = p
			}
			return nil
		})
	}
	return idx
}

// TestSigmaHQRegression runs each SigmaHQ regression case through vigil
// hunt: the sample, as EVTX and as its JSON rendering, must raise at least
// match_count alerts of the rule it was recorded for.
func TestSigmaHQRegression(t *testing.T) {
	root := corpus.Require(t, "sigma")
	rules := indexRules(t, root)
	var infos []string
	filepath.WalkDir(filepath.Join(root, "regression_data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "info.yml" {
			infos = append(infos, p)
		}
		return nil
	})
	if len(infos) == 0 {
		t.Fatal("no regression cases found")
	}
	for _, info := range infos {
		data, err := os.ReadFile(info)
		if err != nil {
			t.Fatal(err)
		}
		var ri regressionInfo
		if err := yaml.Unmarshal(data, &ri); err != nil {
			t.Fatalf("%s: %v", info, err)
		}
		if len(ri.RuleMetadata) == 0 {
			t.Errorf("%s: no rule_metadata", info)
			continue
		}
		id := ri.RuleMetadata[0].ID
		name := strings.TrimPrefix(filepath.Dir(info), filepath.Join(root, "regression_data")+"/")
		t.Run(name, func(t *testing.T) {
			rule, ok := rules[id]
			if !ok {
				t.Fatalf("rule %s (%s) not found in the corpus", id, ri.RuleMetadata[0].Title)
			}
			for _, tc := range ri.Tests {
				want := tc.MatchCount
				if want == 0 {
					want = 1
				}
				evtxPath := filepath.Join(root, tc.Path)
				for _, sample := range []string{evtxPath, strings.TrimSuffix(evtxPath, ".evtx") + ".json"} {
					if _, err := os.Stat(sample); err != nil {
						t.Errorf("%s: %v", sample, err)
						continue
					}
					got := countAlerts(t, rule, sample, id)
					if got < want {
						t.Errorf("%s: %d alerts of %s, want at least %d", filepath.Base(sample), got, id, want)
					}
				}
			}
		})
	}
}

func countAlerts(t *testing.T, rule, sample, id string) int {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"hunt", "--quiet", "--format", "jsonl", "--workers", "1", "--rules", rule, sample},
		Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	if code != ExitOK {
		t.Fatalf("vigil hunt exited %d: %s", code, errb.String())
	}
	n := 0
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var a struct {
			Rule struct{ ID string } `json:"rule"`
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("bad alert line: %v", err)
		}
		if a.Rule.ID == id {
			n++
		}
	}
	return n
}
