// Package advisory holds vigil's built-in advisories: descriptions of a
// threat for an analyst (what it is, the attack chain, its impact, what to
// do, how to triage an alert) together with the Sigma rules, embedded in
// the binary, that detect it. vigil hunt loads these rules when no --rules
// is given, and with --builtin.
package advisory

import (
	"embed"
	"fmt"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-detect/vigil/sigma"
)

//go:embed advisories.yml rules/*.yml
var files embed.FS

// PathPrefix starts the rule-file path of built-in rules, as alerts and
// errors show it.
const PathPrefix = "builtin:"

// Advisory describes one threat and the rules that detect it.
type Advisory struct {
	ID              string   `yaml:"id" json:"id"`
	Title           string   `yaml:"title" json:"title"`
	Severity        string   `yaml:"severity" json:"severity"`
	Description     string   `yaml:"description" json:"description"`
	AttackChain     []string `yaml:"attack_chain" json:"attack_chain"`
	Impact          string   `yaml:"impact" json:"impact"`
	Recommendations []string `yaml:"recommendations" json:"recommendations"`
	References      []string `yaml:"references" json:"references"`
	Triage          []string `yaml:"triage" json:"triage"`
	// Rules are the ids of the advisory's rules, correlations first.
	Rules []string `yaml:"rules" json:"rules"`
}

var (
	all    []*Advisory
	byRule = map[string]*Advisory{}
)

func init() {
	data, err := files.ReadFile("advisories.yml")
	if err != nil {
		panic(err)
	}
	if err := yaml.Unmarshal(data, &all); err != nil {
		panic(fmt.Sprintf("advisory: advisories.yml: %v", err))
	}
	for _, a := range all {
		for _, id := range a.Rules {
			byRule[id] = a
		}
	}
}

// All returns the built-in advisories, by id.
func All() []*Advisory { return all }

// Get returns the advisory with the id (case-insensitive), or nil.
func Get(id string) *Advisory {
	for _, a := range all {
		if strings.EqualFold(a.ID, id) {
			return a
		}
	}
	return nil
}

// ForRule returns the advisory a rule id belongs to, or nil.
func ForRule(id string) *Advisory { return byRule[id] }

// Rules parses the built-in rule files. Their paths are PathPrefix plus
// the file's path in the package ("builtin:rules/....yml").
func Rules() (*sigma.Collection, sigma.ErrorList) {
	return sigma.ParseFS(files, "rules/*.yml", PathPrefix)
}

// RuleFile returns the text of a built-in rule file by its base name.
func RuleFile(name string) ([]byte, error) {
	return files.ReadFile(path.Join("rules", path.Base(name)))
}
