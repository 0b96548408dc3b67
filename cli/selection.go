package cli

import (
	"fmt"
	"strings"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/sigma"
)

// levels are the Sigma levels, lowest first.
var levels = []string{"informational", "low", "medium", "high", "critical"}

// levelRank returns the rank of a Sigma level (0 informational ... 4
// critical), or -1 for none or an unknown one.
func levelRank(l string) int {
	l = strings.ToLower(strings.TrimSpace(l))
	if l == "info" {
		l = "informational"
	}
	for i, x := range levels {
		if x == l {
			return i
		}
	}
	return -1
}

func parseLevel(flag, s string) (int, error) {
	r := levelRank(s)
	if r < 0 {
		return 0, usageErr("%s %q: want one of %s", flag, s, strings.Join(levels, ", "))
	}
	return r, nil
}

// selection chooses the rules of a hunt from their metadata.
type selection struct {
	minLevel      string   // --min-level
	status        []string // --status: names to keep, "!name" to drop
	tags          []string // --tags
	excludeRules  []string // --exclude-rule: ids or names
	minRank       int
	statusKeep    map[string]bool
	statusDrop    map[string]bool
	excludeRuleID map[string]bool
}

func (s *selection) active() bool {
	return s != nil && (s.minLevel != "" || len(s.status) > 0 || len(s.tags) > 0 || len(s.excludeRules) > 0)
}

// prepare checks and indexes the flags.
func (s *selection) prepare() error {
	if s.minLevel != "" {
		r, err := parseLevel("--min-level", s.minLevel)
		if err != nil {
			return err
		}
		s.minRank = r
	}
	s.statusKeep, s.statusDrop = map[string]bool{}, map[string]bool{}
	for _, v := range splitList(s.status) {
		drop := strings.HasPrefix(v, "!")
		v = strings.ToLower(strings.TrimPrefix(v, "!"))
		switch v {
		case "stable", "test", "experimental", "deprecated", "unsupported", "none":
		default:
			return usageErr("--status %q: want stable, test, experimental, deprecated, unsupported or none, optionally prefixed with !", v)
		}
		if drop {
			s.statusDrop[v] = true
		} else {
			s.statusKeep[v] = true
		}
	}
	s.tags = splitList(s.tags)
	for i, t := range s.tags {
		s.tags[i] = strings.ToLower(t)
	}
	s.excludeRuleID = map[string]bool{}
	for _, id := range splitList(s.excludeRules) {
		s.excludeRuleID[strings.ToLower(id)] = true
	}
	return nil
}

// splitList splits repeated, comma-separated flag values.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}

// keep reports whether a rule's metadata passes the selection.
func (s *selection) keep(m *sigma.Meta) bool {
	if s.minLevel != "" && levelRank(m.Level) < s.minRank {
		return false
	}
	st := strings.ToLower(m.Status)
	if st == "" {
		st = "none"
	}
	if len(s.statusKeep) > 0 && !s.statusKeep[st] || s.statusDrop[st] {
		return false
	}
	if s.excludeRuleID[strings.ToLower(m.ID)] || m.Name != "" && s.excludeRuleID[strings.ToLower(m.Name)] {
		return false
	}
	if len(s.tags) > 0 {
		found := false
		for _, want := range s.tags {
			for _, t := range m.Tags {
				t = strings.ToLower(t)
				if t == want || strings.HasPrefix(t, want+".") {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// apply keeps the selected rules and correlations of coll. The rules a
// kept correlation reads are kept too, so that it still works; their own
// alerts are returned in hidden (by rule id) to be dropped from the
// output. It returns the number of rules and correlations left out.
func (s *selection) apply(coll *sigma.Collection) (excluded int, hidden map[string]bool) {
	hidden = map[string]bool{}
	if !s.active() {
		return 0, hidden
	}
	keepCorr := make([]bool, len(coll.Correlations))
	needed := map[string]bool{}
	for i, c := range coll.Correlations {
		if s.keep(&c.Meta) {
			keepCorr[i] = true
			for _, r := range c.Rules {
				needed[r] = true
			}
		}
	}
	// Correlations chained under a kept one are kept, hidden.
	for changed := true; changed; {
		changed = false
		for i, c := range coll.Correlations {
			if !keepCorr[i] && (needed[c.ID] || c.Name != "" && needed[c.Name]) {
				keepCorr[i], changed = true, true
				hidden[corrID(c)] = true
				for _, r := range c.Rules {
					needed[r] = true
				}
			}
		}
	}
	var corrs []*sigma.Correlation
	for i, c := range coll.Correlations {
		if keepCorr[i] {
			corrs = append(corrs, c)
		} else {
			excluded++
		}
	}
	var rules []*sigma.Rule
	for _, r := range coll.Rules {
		switch {
		case s.keep(&r.Meta):
			rules = append(rules, r)
		case needed[r.ID] || r.Name != "" && needed[r.Name] || advisory.IsContextRule(r):
			rules = append(rules, r)
			hidden[ruleID(r)] = true
		default:
			excluded++
		}
	}
	coll.Rules, coll.Correlations = rules, corrs
	return excluded, hidden
}

// ruleID is the id alerts carry for a rule: its id, or its title.
func ruleID(r *sigma.Rule) string {
	if r.ID != "" {
		return r.ID
	}
	return r.Title
}

// hideRules drops the alerts of rules that are only loaded for the
// correlations that read them.
type hideRules struct {
	alert.Writer
	hidden map[string]bool
}

func (h hideRules) Write(a *alert.Alert) error {
	if h.hidden[a.Rule.ID] {
		return nil
	}
	return h.Writer.Write(a)
}

func (s *selection) String() string {
	var parts []string
	if s.minLevel != "" {
		parts = append(parts, "--min-level "+s.minLevel)
	}
	if len(s.status) > 0 {
		parts = append(parts, "--status "+strings.Join(s.status, ","))
	}
	if len(s.tags) > 0 {
		parts = append(parts, "--tags "+strings.Join(s.tags, ","))
	}
	if len(s.excludeRules) > 0 {
		parts = append(parts, fmt.Sprintf("--exclude-rule (%d)", len(s.excludeRules)))
	}
	return strings.Join(parts, " ")
}

func corrID(c *sigma.Correlation) string {
	if c.ID != "" {
		return c.ID
	}
	return c.Title
}
