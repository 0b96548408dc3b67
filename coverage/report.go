package coverage

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/sigma"
)

// RuleSet is the rules judged together: the detection rules and the
// correlations that raise alerts (a rule only read by correlations, or
// left out by skip, is judged through them or not at all).
type RuleSet struct {
	checker *Checker
	rules   []*sigma.Rule
	corrs   []*correlate.Correlation
}

// NewRuleSet prepares the alerting rules of a collection and its compiled
// correlations; skip, when set, leaves out rules that raise no alerts of
// their own (vigil's context rules).
func NewRuleSet(tbl *mapping.Table, coll *sigma.Collection, set *correlate.Set, skip func(*sigma.Rule) bool) *RuleSet {
	rs := &RuleSet{checker: NewChecker(tbl, coll.Rules)}
	for _, r := range coll.Rules {
		if set.Suppressed(r) || skip != nil && skip(r) {
			continue
		}
		rs.rules = append(rs.rules, r)
	}
	for _, c := range set.Correlations() {
		if c.Output {
			rs.corrs = append(rs.corrs, c)
		}
	}
	return rs
}

// Len returns the number of rules judged.
func (rs *RuleSet) Len() int { return len(rs.rules) + len(rs.corrs) }

// RuleVerdict is one rule's coverage on a host.
type RuleVerdict struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Verdict
}

// Judge judges every rule of the set on a host.
func (rs *RuleSet) Judge(h *Host) []RuleVerdict {
	var out []RuleVerdict
	for _, r := range rs.rules {
		id := r.ID
		if id == "" {
			id = r.Title
		}
		out = append(out, RuleVerdict{ID: id, Title: r.Title, Verdict: rs.checker.Rule(r, h)})
	}
	for _, c := range rs.corrs {
		out = append(out, RuleVerdict{ID: c.ID(), Title: c.Sigma.Title, Verdict: rs.checker.Correlation(c, h)})
	}
	return out
}

// AllBlind reports whether no rule of the set can fire on the host (false
// for an empty set). It stops at the first rule that can, and builds no
// text: cheap enough to run for every host after a hunt.
func (rs *RuleSet) AllBlind(h *Host) bool {
	if rs.Len() == 0 {
		return false
	}
	for _, r := range rs.rules {
		if rs.checker.status(r, h) != Blind {
			return false
		}
	}
	for _, c := range rs.corrs {
		if rs.checker.correlation(c, h, false).Status != Blind {
			return false
		}
	}
	return true
}

// Report is the coverage of every host, the JSON vigil coverage writes.
type Report struct {
	Hosts []HostReport `json:"hosts"`
}

// HostReport is one host's telemetry and coverage.
type HostReport struct {
	Host            string         `json:"host"`
	Events          int64          `json:"events"`
	FirstEvent      *time.Time     `json:"first_event,omitempty"`
	LastEvent       *time.Time     `json:"last_event,omitempty"`
	ProcessCreation []SourceReport `json:"process_creation"`
	Network         []SourceReport `json:"network"`
	// Advisory is the coverage of the built-in advisories' alerting
	// rules; Missing says what the logs lack for them, with remedies.
	Advisory Status `json:"advisory"`
	Missing  []Gap  `json:"missing"`
	// Rules are the verdicts of the rules given with --rules.
	Rules *RulesReport `json:"rules,omitempty"`
}

// SourceReport is one process-creation or network source of a host.
type SourceReport struct {
	Source Kind  `json:"source"`
	Events int64 `json:"events"`
	// For process creation: the events carrying a command line, a parent
	// image, a parent command line.
	CommandLines       *int64 `json:"command_lines,omitempty"`
	ParentImages       *int64 `json:"parent_images,omitempty"`
	ParentCommandLines *int64 `json:"parent_command_lines,omitempty"`
}

// RulesReport counts and lists the verdicts of a rule set on a host.
type RulesReport struct {
	Covered int           `json:"covered"`
	Partial int           `json:"partial"`
	Blind   int           `json:"blind"`
	List    []RuleVerdict `json:"list"`
}

// Build judges the hosts: the advisory rule set (nil: none) and the
// user's rule set (nil: none).
func Build(hosts []*Host, advisory, rules *RuleSet) *Report {
	rep := &Report{Hosts: []HostReport{}}
	for _, h := range hosts {
		hr := HostReport{Host: h.Name, Events: h.Events, ProcessCreation: []SourceReport{}, Network: []SourceReport{}, Missing: []Gap{}}
		if hr.Host == "" {
			hr.Host = "(no host name)"
		}
		if !h.First.IsZero() {
			f, l := h.First, h.Last
			hr.FirstEvent, hr.LastEvent = &f, &l
		}
		byKind := map[Kind]*SourceReport{}
		var kinds []Kind
		for _, c := range h.Sources {
			if c.Kind == KindOther || c.Events == 0 {
				continue
			}
			sr := byKind[c.Kind]
			if sr == nil {
				sr = &SourceReport{Source: c.Kind}
				if c.Kind.Process() {
					sr.CommandLines, sr.ParentImages, sr.ParentCommandLines = new(int64), new(int64), new(int64)
				}
				byKind[c.Kind] = sr
				kinds = append(kinds, c.Kind)
			}
			sr.Events += c.Events
			if c.Kind.Process() {
				*sr.CommandLines += c.With[CommandLine]
				*sr.ParentImages += c.With[ParentImage]
				*sr.ParentCommandLines += c.With[ParentCommandLine]
			}
		}
		sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
		for _, k := range kinds {
			if k.Process() {
				hr.ProcessCreation = append(hr.ProcessCreation, *byKind[k])
			} else {
				hr.Network = append(hr.Network, *byKind[k])
			}
		}
		if advisory != nil {
			var vs []Verdict
			for _, rv := range advisory.Judge(h) {
				vs = append(vs, rv.Verdict)
			}
			v := Overall(vs)
			hr.Advisory, hr.Missing = v.Status, v.Missing
		}
		if rules != nil {
			rr := &RulesReport{List: rules.Judge(h)}
			for _, v := range rr.List {
				switch v.Status {
				case Covered:
					rr.Covered++
				case Partial:
					rr.Partial++
				default:
					rr.Blind++
				}
			}
			hr.Rules = rr
		}
		rep.Hosts = append(rep.Hosts, hr)
	}
	return rep
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteTable writes the report for a person: one row per host, then what
// each host lacks and the remedies.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tEVENTS\tFROM\tTO\tPROCESS CREATION\tNETWORK\tADVISORY\tRULES")
	for _, h := range r.Hosts {
		from, to := "-", "-"
		if h.FirstEvent != nil {
			from, to = h.FirstEvent.Format("2006-01-02 15:04:05Z"), h.LastEvent.Format("2006-01-02 15:04:05Z")
		}
		adv := string(h.Advisory)
		if adv == "" {
			adv = "-"
		}
		rules := "-"
		if h.Rules != nil {
			rules = fmt.Sprintf("%d covered, %d partial, %d blind", h.Rules.Covered, h.Rules.Partial, h.Rules.Blind)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Host, h.Events, from, to, sources(h.ProcessCreation), sources(h.Network), adv, rules)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, h := range r.Hosts {
		var gaps []Gap
		gaps = append(gaps, h.Missing...)
		if h.Rules != nil {
			for _, v := range h.Rules.List {
				for _, g := range v.Missing {
					if !hasGap(gaps, g) {
						gaps = append(gaps, g)
					}
				}
			}
		}
		if len(gaps) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", h.Host)
		for _, g := range gaps {
			fmt.Fprintf(w, "  missing: %s\n    remedy: %s\n", g.Missing, g.Remedy)
		}
		if h.Rules != nil && h.Rules.Blind+h.Rules.Partial > 0 {
			var names []string
			for _, v := range h.Rules.List {
				if v.Status != Covered {
					names = append(names, fmt.Sprintf("%s (%s)", v.Title, v.Status))
				}
			}
			const maxNames = 10
			more := ""
			if len(names) > maxNames {
				more = fmt.Sprintf(", and %d more (--format json lists them)", len(names)-maxNames)
				names = names[:maxNames]
			}
			fmt.Fprintf(w, "  rules not covered: %s%s\n", strings.Join(names, "; "), more)
		}
	}
	return nil
}

func hasGap(gs []Gap, g Gap) bool {
	for _, x := range gs {
		if x.Missing == g.Missing {
			return true
		}
	}
	return false
}

func sources(srs []SourceReport) string {
	if len(srs) == 0 {
		return "none"
	}
	var out []string
	for _, s := range srs {
		t := fmt.Sprintf("%s ×%d", s.Source, s.Events)
		if s.CommandLines != nil {
			var with []string
			switch {
			case *s.CommandLines == 0:
				with = append(with, "no command lines")
			case *s.CommandLines < s.Events:
				with = append(with, fmt.Sprintf("%d with command lines", *s.CommandLines))
			default:
				with = append(with, "command lines")
			}
			if *s.ParentImages == 0 {
				with = append(with, "no parent")
			} else {
				with = append(with, "parent")
			}
			t += " (" + strings.Join(with, ", ") + ")"
		}
		out = append(out, t)
	}
	return strings.Join(out, ", ")
}
