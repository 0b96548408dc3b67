package coverage

import (
	"fmt"
	"slices"
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
	eventID  bool // the detection tests EventID values
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
					if strings.EqualFold(it.Field, "EventID") {
						n.eventID = true
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

// finding is what assess learnt of a rule on a host.
type finding struct {
	status  Status
	gap     *Gap          // the reason of a blind verdict decided before fields
	present []*Counts     // the host's sources the rule reads
	missing [nFields]bool // tracked fields the rule reads and they lack
	ids     []string      // event ids the condition needs, none present
	srcs    []mapping.Source
}

// assess judges a rule without building texts, except the gap of the
// cases decided before reading fields.
func (c *Checker) assess(r *sigma.Rule, h *Host, gaps bool) finding {
	n := c.needs[r]
	gap := func(missing, remedy string) *Gap {
		if !gaps {
			return nil
		}
		return &Gap{Missing: missing, Remedy: remedy}
	}
	switch {
	case n == nil:
		return finding{status: Blind, gap: gap("rule "+r.Title+" is not loaded", "load it with --rules")}
	case n.unrouted:
		return finding{status: Blind, gap: gap("log source "+describe(n.ls)+" is not in the mapping", "map it to a channel and event ids with --mapping")}
	case n.foreign:
		return finding{status: Blind, gap: gap("no "+describe(n.ls)+" events (not a Windows event log)", "hunt the logs of that product")}
	case n.any:
		if h.Events > 0 {
			return finding{status: Covered}
		}
		return finding{status: Blind, gap: gap("no events", "collect the host's event logs")}
	}
	f := finding{status: Covered, srcs: n.srcs}
	var ids []string // event ids of the sources present
	for k, cnt := range h.Sources {
		if cnt.Events > 0 && routes(n.srcs, k) {
			f.present = append(f.present, cnt)
			ids = append(ids, k.EventID)
		}
	}
	if len(f.present) == 0 {
		f.status = Blind
		if gaps {
			f.gap = &Gap{Missing: "no " + describe(n.ls) + " events (" + sourceList(n.srcs) + ")", Remedy: remedy(n.srcs)}
		}
		return f
	}
	anyMissing := false
	if n.ls.Category == "process_creation" {
		for fi := range nFields {
			if !n.fields[fi] {
				continue
			}
			var with int64
			for _, cnt := range f.present {
				with += cnt.With[fi]
			}
			if with == 0 {
				f.missing[fi], anyMissing = true, true
			}
		}
	}
	// A condition that needs event ids the host's sources do not have
	// (a service-wide log source, narrowed by EventID in the rule).
	if n.eventID && !possibleCond(n.det, never(n.det, [nFields]bool{}, ids)) {
		f.status = Blind
		f.ids = eventIDs(n.det)
		return f
	}
	if !anyMissing {
		return f
	}
	f.status = Partial
	if !possibleCond(n.det, never(n.det, f.missing, ids)) {
		f.status = Blind
	}
	return f
}

// rule judges a rule; without gaps it only sets the status (no text is
// built), for a quick look at many rules.
func (c *Checker) rule(r *sigma.Rule, h *Host, gaps bool) Verdict {
	f := c.assess(r, h, gaps)
	v := Verdict{Status: f.status, Missing: []Gap{}}
	if !gaps {
		return v
	}
	if f.gap != nil {
		v.add(*f.gap)
		return v
	}
	if f.ids != nil {
		var srcs []mapping.Source
		for _, s := range f.srcs {
			srcs = append(srcs, mapping.Source{Channel: s.Channel, EventIDs: f.ids})
		}
		v.add(Gap{Missing: "no events " + strings.Join(f.ids, ", ") + " (" + sourceList(srcs) + ")", Remedy: remedy(srcs)})
		return v
	}
	for fi := range nFields {
		if f.missing[fi] {
			v.add(fieldGap(Field(fi), f.present))
		}
	}
	return v
}

// status is a rule's status alone.
func (c *Checker) status(r *sigma.Rule, h *Host) Status { return c.assess(r, h, false).status }

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

// never returns the searches of a detection that cannot match on a host:
// those all of whose alternatives test a field marked missing (an exists
// test excepted), or an EventID (plain values) none of the host's event
// ids ids is. ids nil: every event id is present.
func never(d *sigma.Detection, missing [nFields]bool, ids []string) map[string]bool {
	out := map[string]bool{}
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
				if ids != nil && strings.EqualFold(it.Field, "EventID") && len(it.Modifiers) == 0 && len(it.Values) > 0 {
					hit := false
					for _, v := range it.Values {
						hit = hit || v.Kind == sigma.NullValue || slices.Contains(ids, v.Text)
					}
					altDead = altDead || !hit
				}
			}
			dead = dead && altDead
		}
		out[s.Name] = dead
	}
	return out
}

// eventIDs lists the EventID values a detection tests, in order.
func eventIDs(d *sigma.Detection) []string {
	var out []string
	for _, s := range d.Searches {
		for _, a := range s.Alternatives {
			for _, it := range a.Items {
				if strings.EqualFold(it.Field, "EventID") && len(it.Modifiers) == 0 {
					for _, v := range it.Values {
						if v.Kind != sigma.NullValue && !slices.Contains(out, v.Text) {
							out = append(out, v.Text)
						}
					}
				}
			}
		}
	}
	return out
}

// possibleCond reports whether a detection's condition can hold when the
// searches in never never match and the others may.
func possibleCond(d *sigma.Detection, nev map[string]bool) bool {
	for _, c := range d.Conditions {
		if possibleNode(c.Expr, d, nev) {
			return true
		}
	}
	return len(d.Conditions) == 0
}

func possibleNode(n condition.Node, d *sigma.Detection, never map[string]bool) bool {
	switch n := n.(type) {
	case *condition.Ident:
		return !never[n.Name]
	case *condition.And:
		for _, a := range n.Args {
			if !possibleNode(a, d, never) {
				return false
			}
		}
		return true
	case *condition.Or:
		for _, a := range n.Args {
			if possibleNode(a, d, never) {
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
		return strings.TrimSuffix(strings.ReplaceAll(ls.Category, "_", " "), " event")
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
