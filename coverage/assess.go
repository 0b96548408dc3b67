package coverage

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/mapping"
	"github.com/vigil-detect/vigil/sigma"
	"github.com/vigil-detect/vigil/sigma/condition"
)

// Status is whether a host's logs can feed a rule.
type Status string

// The statuses, from best to worst.
const (
	// Covered: the logs hold the events and fields the rule reads.
	Covered Status = "covered"
	// Partial: the rule can fire, but some of its selections read a
	// field the logs never carry, or (for an advisory) some of its rules
	// are blind.
	Partial Status = "partial"
	// Blind: the rule can never fire on these logs.
	Blind Status = "blind"
)

func (s Status) rank() int {
	switch s {
	case Covered:
		return 0
	case Partial:
		return 1
	}
	return 2
}

// Gap is one thing a host's logs lack, and how to get it.
type Gap struct {
	Missing string `json:"missing"`
	Remedy  string `json:"remedy"`
}

// Verdict is a rule's coverage on one host.
type Verdict struct {
	Status  Status `json:"status"`
	Missing []Gap  `json:"missing"`
}

func (v *Verdict) add(gs ...Gap) {
	for _, g := range gs {
		dup := false
		for _, x := range v.Missing {
			dup = dup || x.Missing == g.Missing
		}
		if !dup {
			v.Missing = append(v.Missing, g)
		}
	}
}

// Checker judges rules and correlations against a host's counts. It is
// immutable once built and safe for concurrent use.
type Checker struct {
	tbl   *mapping.Table
	needs map[*sigma.Rule]*need
}

// need is what a detection rule reads.
type need struct {
	ls       sigma.LogSource
	srcs     []mapping.Source
	any      bool // every event of its product
	foreign  bool // not a Windows log source
	unrouted bool // not in the mapping
	fields   [nFields]bool
	det      *sigma.Detection
}

// NewChecker prepares the rules' needs, resolving log sources through tbl
// (nil: mapping.Default()) the way the engine routes rules.
func NewChecker(tbl *mapping.Table, rules []*sigma.Rule) *Checker {
	if tbl == nil {
		tbl = mapping.Default()
	}
	c := &Checker{tbl: tbl, needs: map[*sigma.Rule]*need{}}
	for _, r := range rules {
		n := &need{ls: r.LogSource, det: &r.Detection}
		srcs, ok := tbl.Resolve(r.LogSource.Category, r.LogSource.Product, r.LogSource.Service)
		switch {
		case ok && srcs == nil:
			n.any = true
		case ok:
			n.srcs = srcs
		case !strings.EqualFold(r.LogSource.Product, "windows"):
			n.foreign = true
		default:
			n.unrouted = true
		}
		for _, s := range r.Detection.Searches {
			for _, a := range s.Alternatives {
				for _, it := range a.Items {
					for f := range nFields {
						if strings.EqualFold(it.Field, fieldNames[f]) {
							n.fields[f] = true
						}
					}
				}
			}
		}
		c.needs[r] = n
	}
	return c
}

// Rule judges a detection rule on a host.
func (c *Checker) Rule(r *sigma.Rule, h *Host) Verdict { return c.rule(r, h, true) }

// rule judges a rule; without gaps it only sets the status (no text is
// built), for a quick look at many rules.
func (c *Checker) rule(r *sigma.Rule, h *Host, gaps bool) Verdict {
	if !gaps {
		return Verdict{Status: c.status(r, h)}
	}
	n := c.needs[r]
	if n == nil {
		return Verdict{Status: Blind, Missing: []Gap{{Missing: "rule " + r.Title + " is not loaded", Remedy: "load it with --rules"}}}
	}
	ls := describe(n.ls)
	switch {
	case n.unrouted:
		return Verdict{Status: Blind, Missing: []Gap{{Missing: "log source " + ls + " is not in the mapping", Remedy: "map it to a channel and event ids with --mapping"}}}
	case n.foreign:
		return Verdict{Status: Blind, Missing: []Gap{{Missing: "no " + ls + " events (not a Windows event log)", Remedy: "hunt the logs of that product"}}}
	case n.any:
		if h.Events > 0 {
			return Verdict{Status: Covered, Missing: []Gap{}}
		}
		return Verdict{Status: Blind, Missing: []Gap{{Missing: "no events", Remedy: "collect the host's event logs"}}}
	}
	var present []*Counts
	for k, cnt := range h.Sources {
		if cnt.Events > 0 && routes(n.srcs, k) {
			present = append(present, cnt)
		}
	}
	if len(present) == 0 {
		return Verdict{Status: Blind, Missing: []Gap{{Missing: "no " + ls + " events (" + sourceList(n.srcs) + ")", Remedy: remedy(n.srcs)}}}
	}
	v := Verdict{Status: Covered, Missing: []Gap{}}
	if n.ls.Category != "process_creation" {
		return v
	}
	var missing [nFields]bool
	anyMissing := false
	for f := range nFields {
		if !n.fields[f] {
			continue
		}
		var with int64
		for _, cnt := range present {
			with += cnt.With[f]
		}
		if with == 0 {
			missing[f] = true
			anyMissing = true
			v.add(fieldGap(f, present))
		}
	}
	if !anyMissing {
		return v
	}
	v.Status = Partial
	if !possibleWithout(n.det, missing) {
		v.Status = Blind
	}
	return v
}

// status is rule's status alone.
func (c *Checker) status(r *sigma.Rule, h *Host) Status {
	n := c.needs[r]
	switch {
	case n == nil, n.unrouted, n.foreign:
		return Blind
	case n.any:
		if h.Events > 0 {
			return Covered
		}
		return Blind
	}
	var missing [nFields]bool
	anyMissing, found := false, false
	var with [nFields]int64
	for k, cnt := range h.Sources {
		if cnt.Events > 0 && routes(n.srcs, k) {
			found = true
			for f := range nFields {
				with[f] += cnt.With[f]
			}
		}
	}
	if !found {
		return Blind
	}
	if n.ls.Category != "process_creation" {
		return Covered
	}
	for f := range nFields {
		if n.fields[f] && with[f] == 0 {
			missing[f], anyMissing = true, true
		}
	}
	switch {
	case !anyMissing:
		return Covered
	case possibleWithout(n.det, missing):
		return Partial
	}
	return Blind
}

// Correlation judges a correlation on a host from the rules it reads:
// temporal and temporal_ordered need every rule, the others any one.
func (c *Checker) Correlation(cc *correlate.Correlation, h *Host) Verdict {
	return c.correlation(cc, h, true)
}

func (c *Checker) correlation(cc *correlate.Correlation, h *Host, gaps bool) Verdict {
	var vs []Verdict
	for _, in := range cc.Inputs {
		switch {
		case in.Rule != nil:
			vs = append(vs, c.rule(in.Rule, h, gaps))
		case in.Corr != nil:
			vs = append(vs, c.correlation(in.Corr, h, gaps))
		}
	}
	all := cc.Sigma.Type == "temporal" || cc.Sigma.Type == "temporal_ordered"
	out := Verdict{Status: Covered, Missing: []Gap{}}
	if len(vs) == 0 {
		return out
	}
	if all {
		for _, v := range vs {
			if v.Status.rank() > out.Status.rank() {
				out.Status = v.Status
			}
			out.add(v.Missing...)
		}
		return out
	}
	out.Status = Blind
	for _, v := range vs {
		if v.Status.rank() < out.Status.rank() {
			out.Status = v.Status
		}
	}
	if out.Status != Covered {
		for _, v := range vs {
			out.add(v.Missing...)
		}
	}
	return out
}

// Overall sums up several rules' verdicts: covered when all are, blind
// when all are, partial otherwise, with every gap.
func Overall(vs []Verdict) Verdict {
	out := Verdict{Status: Covered, Missing: []Gap{}}
	blind, covered := 0, 0
	for _, v := range vs {
		switch v.Status {
		case Blind:
			blind++
		case Covered:
			covered++
		}
		out.add(v.Missing...)
	}
	switch {
	case len(vs) == 0, covered == len(vs):
		out.Status = Covered
	case blind == len(vs):
		out.Status = Blind
	default:
		out.Status = Partial
	}
	return out
}

// routes reports whether events of a source key reach a rule reading srcs.
func routes(srcs []mapping.Source, k SourceKey) bool {
	for _, s := range srcs {
		if !strings.EqualFold(s.Channel, k.Channel) {
			continue
		}
		if len(s.EventIDs) == 0 {
			return true
		}
		for _, id := range s.EventIDs {
			if id == k.EventID {
				return true
			}
		}
	}
	return false
}

// possibleWithout reports whether a detection's condition can still hold
// when the fields marked missing are absent from every event: a search all
// of whose alternatives test a missing field never matches (an exists
// test excepted), and the condition is evaluated with those searches
// false and the others free.
func possibleWithout(d *sigma.Detection, missing [nFields]bool) bool {
	never := map[string]bool{}
	for _, s := range d.Searches {
		dead := len(s.Alternatives) > 0
		for _, a := range s.Alternatives {
			altDead := false
			for _, it := range a.Items {
				if it.Has("exists") {
					continue
				}
				for f := range nFields {
					if missing[f] && strings.EqualFold(it.Field, fieldNames[f]) {
						altDead = true
					}
				}
			}
			dead = dead && altDead
		}
		never[s.Name] = dead
	}
	for _, c := range d.Conditions {
		if possible(c.Expr, d, never) {
			return true
		}
	}
	return len(d.Conditions) == 0
}

func possible(n condition.Node, d *sigma.Detection, never map[string]bool) bool {
	switch n := n.(type) {
	case *condition.Ident:
		return !never[n.Name]
	case *condition.And:
		for _, a := range n.Args {
			if !possible(a, d, never) {
				return false
			}
		}
		return true
	case *condition.Or:
		for _, a := range n.Args {
			if possible(a, d, never) {
				return true
			}
		}
		return false
	case *condition.Not:
		return true
	case *condition.Of:
		any, all := false, true
		for _, s := range d.Searches {
			if !n.Selects(s.Name) {
				continue
			}
			if never[s.Name] {
				all = false
			} else {
				any = true
			}
		}
		if n.All {
			return all
		}
		return any
	}
	return true
}

func describe(ls sigma.LogSource) string {
	switch {
	case ls.Category != "":
		return strings.ReplaceAll(ls.Category, "_", " ")
	case ls.Service != "":
		return ls.Product + "/" + ls.Service
	case ls.Product != "":
		return ls.Product
	}
	return "(no log source)"
}

func sourceList(srcs []mapping.Source) string {
	var out []string
	for _, s := range srcs {
		if len(s.EventIDs) == 0 {
			out = append(out, s.Channel)
		} else {
			out = append(out, s.Channel+" "+strings.Join(s.EventIDs, ","))
		}
	}
	return strings.Join(out, "; ")
}

// sysmonElements are the Sysmon configuration elements, by event id.
var sysmonElements = map[string]string{
	"1": "ProcessCreate", "2": "FileCreateTime", "3": "NetworkConnect", "5": "ProcessTerminate",
	"6": "DriverLoad", "7": "ImageLoad", "8": "CreateRemoteThread", "9": "RawAccessRead",
	"10": "ProcessAccess", "11": "FileCreate", "12": "RegistryEvent", "13": "RegistryEvent",
	"14": "RegistryEvent", "15": "FileCreateStreamHash", "17": "PipeEvent", "18": "PipeEvent",
	"19": "WmiEvent", "20": "WmiEvent", "21": "WmiEvent", "22": "DnsQuery", "23": "FileDelete",
	"24": "ClipboardChange", "25": "ProcessTampering", "26": "FileDeleteDetected",
	"27": "FileBlockExecutable", "28": "FileBlockShredding", "29": "FileExecutableDetected",
}

// auditPolicies are the advanced audit policy subcategories that write
// Security events, by event id.
var auditPolicies = map[string]string{
	"4688": `Detailed Tracking > Audit Process Creation`,
	"4689": `Detailed Tracking > Audit Process Termination`,
	"5156": `Object Access > Audit Filtering Platform Connection`,
	"5157": `Object Access > Audit Filtering Platform Connection`,
	"5158": `Object Access > Audit Filtering Platform Connection`,
	"4624": `Logon/Logoff > Audit Logon`, "4625": `Logon/Logoff > Audit Logon`,
	"4648": `Logon/Logoff > Audit Logon`, "4672": `Logon/Logoff > Audit Special Logon`,
	"4663": `Object Access > Audit File System / Audit Registry`,
	"4656": `Object Access > Audit File System / Audit Registry / Audit Handle Manipulation`,
	"4657": `Object Access > Audit Registry`,
	"4698": `Object Access > Audit Other Object Access Events`,
	"4699": `Object Access > Audit Other Object Access Events`,
	"4702": `Object Access > Audit Other Object Access Events`,
	"5140": `Object Access > Audit File Share`, "5145": `Object Access > Audit Detailed File Share`,
	"4720": `Account Management > Audit User Account Management`,
	"4732": `Account Management > Audit Security Group Management`,
	"4768": `Account Logon > Audit Kerberos Authentication Service`,
	"4769": `Account Logon > Audit Kerberos Service Ticket Operations`,
	"4776": `Account Logon > Audit Credential Validation`,
	"4662": `DS Access > Audit Directory Service Access`,
	"4103": `Windows PowerShell module logging`, "4104": `Windows PowerShell script block logging`,
}

// remedy says how to get the events of a rule's sources.
func remedy(srcs []mapping.Source) string {
	var out []string
	var channels []string
	for _, s := range srcs {
		ch := s.Channel
		if !containsFold(channels, ch) {
			channels = append(channels, ch)
		}
		switch {
		case strings.Contains(strings.ToLower(ch), "sysmon"):
			var els, names []string
			for _, id := range s.EventIDs {
				if el := sysmonElements[id]; el != "" && !containsFold(names, el) {
					names = append(names, el)
					els = append(els, fmt.Sprintf("<%s onmatch=\"exclude\"/> (event %s)", el, id))
				}
			}
			if len(els) == 0 {
				els = []string{"the events " + strings.Join(s.EventIDs, ", ")}
			}
			out = append(out, "Sysmon configuration: "+strings.Join(els, ", "))
		case strings.EqualFold(ch, "security"):
			var pols []string
			for _, id := range s.EventIDs {
				if p := auditPolicies[id]; p != "" && !containsFold(pols, p) {
					pols = append(pols, p)
				}
			}
			if len(pols) == 0 {
				out = append(out, "the audit policy that writes Security "+strings.Join(s.EventIDs, ", "))
			} else {
				out = append(out, "audit policy "+strings.Join(pols, ", ")+" (Security "+strings.Join(s.EventIDs, ", ")+")")
			}
		default:
			if len(s.EventIDs) > 0 {
				out = append(out, "enable "+ch+" events "+strings.Join(s.EventIDs, ", "))
			}
		}
	}
	sort.Strings(channels)
	col := "collect the channel with Winlogbeat (winlogbeat.event_logs: name: " + strings.Join(channels, " or ") + ")"
	if len(out) == 0 {
		return col
	}
	return strings.Join(out, "; or ") + "; " + col
}

// CommandLinePolicy is the Windows setting that adds command lines to
// Security 4688.
const CommandLinePolicy = `Group Policy: Computer Configuration > Administrative Templates > System > Audit Process Creation > "Include command line in process creation events" (registry ProcessCreationIncludeCmdLine_Enabled = 1)`

// fieldGap names a field the process starts of a host never carry, with
// the remedy for the sources it has.
func fieldGap(f Field, present []*Counts) Gap {
	var kinds []string
	sec := false
	for _, c := range present {
		if c.Kind != KindOther && !containsFold(kinds, string(c.Kind)) {
			kinds = append(kinds, string(c.Kind))
		}
		sec = sec || c.Kind == Security4688
	}
	sort.Strings(kinds)
	from := strings.Join(kinds, ", ")
	if from == "" {
		from = "process creation events"
	}
	switch f {
	case CommandLine:
		g := Gap{Missing: "no command lines in " + from}
		if sec {
			g.Missing = "no command lines in " + from + ": the \"Include command line in process creation events\" policy is off"
			g.Remedy = CommandLinePolicy + `; or Sysmon configuration: <ProcessCreate onmatch="exclude"/> (event 1)`
		} else {
			g.Remedy = "keep the command line (CommandLine, process.command_line) in the export"
		}
		return g
	case ParentImage:
		g := Gap{Missing: "no parent process image in " + from}
		if sec {
			g.Remedy = `Windows 10 / Server 2016 or later, whose 4688 carries ParentProcessName; or Sysmon configuration: <ProcessCreate onmatch="exclude"/> (event 1, ParentImage)`
		} else {
			g.Remedy = "keep the parent image (ParentImage, process.parent.executable) in the export"
		}
		return g
	default:
		g := Gap{Missing: "no parent command line in " + from}
		if sec {
			g.Remedy = `Sysmon configuration: <ProcessCreate onmatch="exclude"/> (event 1, ParentCommandLine): Security 4688 has none`
		} else {
			g.Remedy = "keep the parent command line (ParentCommandLine, process.parent.command_line) in the export"
		}
		return g
	}
}

func containsFold(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
