package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/buildinfo"
	"github.com/vigil-detect/vigil/coverage"
	"github.com/vigil-detect/vigil/hunt"
	"github.com/vigil-detect/vigil/source"
)

// huntSummary is the run summary of vigil hunt: printed on standard error
// and written by --summary-json. Its JSON field names are documented in
// docs/cli.md.
type huntSummary struct {
	Files struct {
		Read       int           `json:"read"`
		Bytes      int64         `json:"bytes"`
		Unreadable []fileProblem `json:"unreadable"`
		// Damaged are files read despite damage to the file as a whole
		// (an EVTX file header, missing chunks), with what is wrong.
		Damaged []damagedFile `json:"damaged"`
		// Ignored are files in folders that are not event logs.
		Ignored int `json:"ignored"`
	} `json:"files"`
	Events struct {
		Read             int64         `json:"read"`
		PerSecond        float64       `json:"per_second"`
		OutsideTimeRange int64         `json:"outside_time_range"`
		Unparsable       int64         `json:"unparsable"`
		Reasons          []reasonCount `json:"unparsable_reasons"`
		Examples         []string      `json:"unparsable_examples"`
	} `json:"events"`
	Rules struct {
		Loaded       int      `json:"loaded"`
		Failed       int      `json:"failed"`
		Correlations int      `json:"correlations"`
		Filters      int      `json:"filters"`
		Warnings     int      `json:"warnings"`
		NotSelected  int      `json:"not_selected"`
		Selection    string   `json:"selection,omitempty"`
		Failures     []string `json:"failures"`
	} `json:"rules"`
	Alerts struct {
		Total    int64             `json:"total"`
		ByLevel  map[string]int64  `json:"by_level"`
		TopRules []alert.RuleCount `json:"top_rules"`
		TopHosts []hostCount       `json:"top_hosts"`
	} `json:"alerts"`
	FirstEvent     *time.Time         `json:"first_event,omitempty"`
	LastEvent      *time.Time         `json:"last_event,omitempty"`
	Correlation    correlationSummary `json:"correlation"`
	ElapsedSeconds float64            `json:"elapsed_seconds"`
	// BlindHosts are the hosts on which no loaded rule could fire: their
	// logs lack every log source or field the rules read (vigil coverage
	// says what is missing).
	BlindHosts []blindHost `json:"blind_hosts"`
	// Error is the runtime failure that ended the run early, if any.
	Error string `json:"error,omitempty"`
	// Build is the vigil build that ran (vigil version).
	Build buildinfo.Info `json:"build"`
}

type fileProblem struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

type damagedFile struct {
	Path   string `json:"path"`
	Damage string `json:"damage"`
	Events int64  `json:"events"`
}

type reasonCount struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

type blindHost struct {
	Host string `json:"host"`
	// Missing are the gaps of the first rules judged, at most three.
	Missing []string `json:"missing"`
}

// blindHosts judges the loaded rules on each host the hunt read.
func blindHosts(rs *ruleSet, hosts []*coverage.Host) []blindHost {
	out := []blindHost{}
	set := coverage.NewRuleSet(rs.tbl, rs.coll, rs.corr, advisory.IsContextRule)
	for _, h := range hosts {
		if set.AllBlind(h) {
			var missing []string
			for _, v := range set.Judge(h) {
				for _, g := range v.Missing {
					if len(missing) < 3 && !slices.Contains(missing, g.Missing) {
						missing = append(missing, g.Missing)
					}
				}
			}
			name := h.Name
			if name == "" {
				name = "(no host name)"
			}
			out = append(out, blindHost{Host: name, Missing: missing})
		}
	}
	return out
}

type hostCount struct {
	Host   string `json:"host"`
	Alerts int64  `json:"alerts"`
}

type correlationSummary struct {
	Matches int64 `json:"matches"`
	NoTime  int64 `json:"matches_without_time"`
	Groups  int64 `json:"groups"`
	MaxOpen int   `json:"max_open_groups"`
	Expired int64 `json:"expired"`
	Evicted int64 `json:"evicted"`
	// MaxHeld is the most matches held in open groups at once; Late
	// counts the matches correlated after newer ones because more than
	// --max-groups matches were waiting.
	MaxHeld int   `json:"max_held_matches"`
	Late    int64 `json:"late"`
	Alerts  int64 `json:"alerts"`
}

const topN = 5

// problemLog collects the input problems of a hunt as they are reported.
type problemLog struct {
	files    []fileProblem
	damaged  []fileProblem
	reasons  map[string]int64
	examples []string
	records  int64
}

func newProblemLog() *problemLog { return &problemLog{reasons: map[string]int64{}} }

var digits = regexp.MustCompile(`\d+`)

// add records one problem: a whole file that could not be read, or a
// record or line that could not be decoded.
func (l *problemLog) add(p *source.Problem) {
	if p.Damage {
		l.damaged = append(l.damaged, fileProblem{Path: p.Path, Error: p.Msg})
		return
	}
	if p.Line == 0 && p.Offset == 0 {
		l.files = append(l.files, fileProblem{Path: p.Path, Error: strings.TrimPrefix(p.Msg, p.Path+": ")})
		return
	}
	l.records++
	reason := digits.ReplaceAllString(p.Msg, "N")
	if len(reason) > 100 {
		reason = reason[:100] + "..."
	}
	l.reasons[reason]++
	if len(l.examples) < topN {
		l.examples = append(l.examples, p.Error())
	}
}

func buildSummary(rs *ruleSet, sel *selection, excluded int, in *hunt.Expansion, st hunt.Stats, pl *problemLog, t *alert.Tally) *huntSummary {
	s := &huntSummary{Build: buildinfo.Get()}
	s.Files.Unreadable = []fileProblem{}
	for _, p := range in.Skipped {
		s.Files.Unreadable = append(s.Files.Unreadable, fileProblem{Path: p.Path, Error: p.Err.Error()})
	}
	s.Files.Unreadable = append(s.Files.Unreadable, pl.files...)
	// A damaged file is one entry with every damage found; one that gave
	// no event is unreadable.
	s.Files.Damaged = []damagedFile{}
	lost := 0
	byPath := map[string]int{}
	for _, d := range pl.damaged {
		if i, ok := byPath[d.Path]; ok {
			s.Files.Damaged[i].Damage += "; " + d.Error
			continue
		}
		byPath[d.Path] = len(s.Files.Damaged)
		s.Files.Damaged = append(s.Files.Damaged, damagedFile{Path: d.Path, Damage: d.Error, Events: st.FileEvents[d.Path]})
	}
	kept := s.Files.Damaged[:0]
	for _, d := range s.Files.Damaged {
		if d.Events == 0 {
			s.Files.Unreadable = append(s.Files.Unreadable, fileProblem{Path: d.Path, Error: d.Damage})
			lost++
			continue
		}
		kept = append(kept, d)
	}
	s.Files.Damaged = kept
	s.Files.Read = st.Files - len(pl.files) - lost
	s.Files.Bytes = in.TotalSize()
	s.Files.Ignored = in.Ignored

	s.Events.Read = st.Events
	if sec := st.Elapsed.Seconds(); sec > 0 {
		s.Events.PerSecond = float64(st.Events+st.Skipped) / sec
	}
	s.Events.OutsideTimeRange = st.Skipped
	s.Events.Unparsable = pl.records
	s.Events.Reasons = []reasonCount{}
	for r, n := range pl.reasons {
		s.Events.Reasons = append(s.Events.Reasons, reasonCount{r, n})
	}
	sort.Slice(s.Events.Reasons, func(i, j int) bool {
		a, b := s.Events.Reasons[i], s.Events.Reasons[j]
		return a.Count > b.Count || a.Count == b.Count && a.Reason < b.Reason
	})
	s.Events.Examples = append([]string{}, pl.examples...)

	s.Rules.Loaded = rs.loaded()
	s.Rules.Failed = rs.failed
	s.Rules.Correlations = rs.corr.Len()
	s.Rules.Filters = len(rs.coll.Filters)
	s.Rules.Warnings = len(rs.warnings)
	s.Rules.NotSelected = excluded
	if sel.active() {
		s.Rules.Selection = sel.String()
	}
	s.Rules.Failures = []string{}
	for _, e := range rs.errs {
		s.Rules.Failures = append(s.Rules.Failures, e.Error())
	}

	s.Alerts.Total = t.Total()
	s.Alerts.ByLevel = map[string]int64{}
	for l, n := range t.ByLevel {
		if l == "" {
			l = "none"
		}
		s.Alerts.ByLevel[l] += n
	}
	s.Alerts.TopRules = []alert.RuleCount{}
	for _, rc := range t.ByRule {
		s.Alerts.TopRules = append(s.Alerts.TopRules, *rc)
	}
	sort.Slice(s.Alerts.TopRules, func(i, j int) bool {
		a, b := s.Alerts.TopRules[i], s.Alerts.TopRules[j]
		return a.Alerts > b.Alerts || a.Alerts == b.Alerts && a.ID < b.ID
	})
	if len(s.Alerts.TopRules) > topN {
		s.Alerts.TopRules = s.Alerts.TopRules[:topN]
	}
	s.Alerts.TopHosts = []hostCount{}
	for h, n := range t.ByHost {
		s.Alerts.TopHosts = append(s.Alerts.TopHosts, hostCount{h, n})
	}
	sort.Slice(s.Alerts.TopHosts, func(i, j int) bool {
		a, b := s.Alerts.TopHosts[i], s.Alerts.TopHosts[j]
		return a.Alerts > b.Alerts || a.Alerts == b.Alerts && a.Host < b.Host
	})
	if len(s.Alerts.TopHosts) > topN {
		s.Alerts.TopHosts = s.Alerts.TopHosts[:topN]
	}
	if !st.First.IsZero() {
		first, last := st.First, st.Last
		s.FirstEvent, s.LastEvent = &first, &last
	}
	c := st.Correlation
	s.Correlation = correlationSummary{Matches: c.Matches, NoTime: c.NoTime, Groups: c.Groups, MaxOpen: c.MaxOpen,
		Expired: c.Expired, Evicted: c.Evicted, MaxHeld: c.MaxHeld, Late: c.Late, Alerts: c.Emitted}
	s.ElapsedSeconds = st.Elapsed.Seconds()
	return s
}

func writeSummaryJSON(path string, s *huntSummary) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// print writes the summary for a person, every line prefixed "vigil: ".
func (s *huntSummary) print(w io.Writer, elapsed time.Duration) {
	// File names, hosts, rule titles and problems come from the inputs:
	// Printable keeps a line break in them from forging a summary line
	// and an escape sequence from reaching the terminal.
	p := func(format string, args ...any) {
		fmt.Fprintf(w, "vigil: %s\n", alert.Printable(fmt.Sprintf(format, args...)))
	}
	r := s.Rules
	line := fmt.Sprintf("rules: %d loaded, %d failed, %d correlations, %d filters, %d warnings", r.Loaded, r.Failed, r.Correlations, r.Filters, r.Warnings)
	if r.Selection != "" {
		line += fmt.Sprintf("; %d not selected by %s", r.NotSelected, r.Selection)
	}
	p("%s", line)
	for i, f := range r.Failures {
		if i == 10 {
			p("  ... %d more rule errors (all are in --summary-json, or run vigil rules validate)", len(r.Failures)-10)
			break
		}
		p("  rule error: %s", f)
	}
	f := s.Files
	line = fmt.Sprintf("files: %d read (%s)", f.Read, humanBytes(f.Bytes))
	if len(f.Unreadable) > 0 {
		line += fmt.Sprintf(", %d unreadable", len(f.Unreadable))
	}
	if len(f.Damaged) > 0 {
		line += fmt.Sprintf(", %d damaged", len(f.Damaged))
	}
	if f.Ignored > 0 {
		line += fmt.Sprintf(", %d in folders ignored (not event logs)", f.Ignored)
	}
	p("%s", line)
	for i, d := range f.Damaged {
		if i == 10 {
			p("  ... %d more damage reports", len(f.Damaged)-10)
			break
		}
		p("  damaged: %s: %s; %d events read", d.Path, d.Damage, d.Events)
	}
	for i, u := range f.Unreadable {
		if i == 10 {
			p("  ... %d more unreadable files", len(f.Unreadable)-10)
			break
		}
		p("  unreadable: %s: %s", u.Path, u.Error)
	}
	e := s.Events
	p("events: %d read in %s (%.0f events/s), %d outside --from/--to, %d unparsable",
		e.Read, elapsed.Round(time.Millisecond), e.PerSecond, e.OutsideTimeRange, e.Unparsable)
	for i, rc := range e.Reasons {
		if i == topN {
			p("  ... %d more reasons", len(e.Reasons)-topN)
			break
		}
		p("  unparsable: %d × %s", rc.Count, rc.Reason)
	}
	for _, ex := range e.Examples {
		p("  e.g. %s", ex)
	}
	a := s.Alerts
	if a.Total == 0 {
		p("alerts: none")
	} else {
		var lv []string
		for _, l := range []string{"critical", "high", "medium", "low", "informational", "none"} {
			if n := a.ByLevel[l]; n > 0 {
				lv = append(lv, fmt.Sprintf("%s %d", l, n))
			}
		}
		p("alerts: %d (%s)", a.Total, strings.Join(lv, ", "))
		p("top rules:")
		for _, rc := range a.TopRules {
			lvl := rc.Level
			if lvl == "" {
				lvl = "-"
			}
			p("  %6d  %-13s %s (%s)", rc.Alerts, lvl, rc.Title, rc.ID)
		}
		p("top hosts:")
		for _, h := range a.TopHosts {
			p("  %6d  %s", h.Alerts, h.Host)
		}
	}
	if s.FirstEvent != nil {
		p("events from %s to %s", s.FirstEvent.Format(time.RFC3339), s.LastEvent.Format(time.RFC3339))
	}
	if c := s.Correlation; c.Matches > 0 {
		line := fmt.Sprintf("correlations: %d matches correlated, %d groups (%d open at most), %d expired, %d evicted by --max-groups, %d alerts",
			c.Matches, c.Groups, c.MaxOpen, c.Expired, c.Evicted, c.Alerts)
		if c.NoTime > 0 {
			line += fmt.Sprintf(", %d matches without a timestamp ignored", c.NoTime)
		}
		if c.Late > 0 {
			line += fmt.Sprintf(", %d matches correlated out of time order (more than --max-groups waiting)", c.Late)
		}
		p("%s", line)
	}
	if s.Error != "" {
		p("stopped early: %s", s.Error)
	}
	if len(s.BlindHosts) > 0 {
		var hs []string
		for i, b := range s.BlindHosts {
			if i == topN {
				hs = append(hs, fmt.Sprintf("and %d more (--summary-json lists them)", len(s.BlindHosts)-topN))
				break
			}
			hs = append(hs, fmt.Sprintf("%s (%s)", b.Host, strings.Join(b.Missing, "; ")))
		}
		p("blind: the loaded rules could not fire on %d hosts (vigil coverage says what to add): %s", len(s.BlindHosts), strings.Join(hs, ", "))
	}
}
