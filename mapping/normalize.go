package mapping

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-detect/vigil/event"
)

//go:embed fields.yaml
var builtinFields []byte

// FieldMap adds one Sigma-named field from another field of an event.
type FieldMap struct {
	Name string `yaml:"name"`
	From string `yaml:"from"`
	// Domain, when set, names a field whose value is prefixed to the
	// result as DOMAIN\value (the form Sysmon writes accounts in).
	Domain    string `yaml:"domain"`
	Transform string `yaml:"transform"`
	// Set replaces a field of the same name instead of adding one.
	Set bool `yaml:"set"`
}

// EventFields are the field maps of one kind of Windows event.
type EventFields struct {
	Channel  string     `yaml:"channel"`
	EventIDs []string   `yaml:"eventids"`
	Fields   []FieldMap `yaml:"fields"`
}

// ECSLogSource gives ECS events of an event.category (and event.type) a
// Sigma log source category.
type ECSLogSource struct {
	Category string `yaml:"category"`
	Type     string `yaml:"type"`
	As       string `yaml:"as"`
}

// Fields is the field mapping part of the table.
type Fields struct {
	Events []EventFields `yaml:"events"`
	ECS    struct {
		// Fields maps a Sigma field to the ECS fields it may come from,
		// in order of preference.
		Fields    map[string]stringList `yaml:"fields"`
		LogSource []ECSLogSource        `yaml:"logsource"`
	} `yaml:"ecs"`
}

type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = []string{n.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = s
		return nil
	}
	return fmt.Errorf("line %d: want a field name or a list of field names", n.Line)
}

var transforms = map[string]func(string) (string, bool){
	"": func(s string) (string, bool) { return s, true },
	"hex": func(s string) (string, bool) {
		s = strings.TrimSpace(s)
		if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
			n, err := strconv.ParseUint(s[2:], 16, 64)
			if err != nil {
				return s, true
			}
			return strconv.FormatUint(n, 10), true
		}
		return s, true
	},
	"protocol": func(s string) (string, bool) {
		switch strings.TrimSpace(s) {
		case "6":
			return "tcp", true
		case "17":
			return "udp", true
		case "1":
			return "icmp", true
		case "58":
			return "ipv6-icmp", true
		}
		return s, true
	},
	// account drops the "-" Windows writes for no account, so that the
	// next mapping of the same field can supply one.
	"account": func(s string) (string, bool) {
		s = strings.TrimSpace(s)
		return s, s != "" && s != "-"
	},
	"direction": func(s string) (string, bool) {
		switch strings.TrimSpace(s) {
		case "%%14593", "Outbound":
			return "true", true
		case "%%14592", "Inbound":
			return "false", true
		}
		return "", false
	},
}

func parseFields(name string, data []byte) (*Fields, error) {
	var f Fields
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, ev := range f.Events {
		for _, fm := range ev.Fields {
			if _, ok := transforms[fm.Transform]; !ok {
				return nil, fmt.Errorf("%s: field %s: unknown transform %q (want hex, protocol, direction or account)", name, fm.Name, fm.Transform)
			}
			if fm.Name == "" || fm.From == "" {
				return nil, fmt.Errorf("%s: a field map needs name and from", name)
			}
		}
	}
	return &f, nil
}

// DefaultFields returns the built-in field mappings.
func DefaultFields() *Fields {
	f, err := parseFields("fields.yaml", builtinFields)
	if err != nil {
		panic(fmt.Sprintf("built-in field mapping is invalid: %v", err))
	}
	return f
}

// Names returns every field name the mappings read or write, for the
// schema the events are decoded with.
func (f *Fields) Names() []string {
	names := []string{"Channel", "EventID", "event.category", "event.type"}
	for _, ev := range f.Events {
		for _, fm := range ev.Fields {
			names = append(names, fm.Name, fm.From)
			if fm.Domain != "" {
				names = append(names, fm.Domain)
			}
		}
	}
	for k, v := range f.ECS.Fields {
		names = append(names, k)
		names = append(names, v...)
	}
	return names
}

// Normalizer adds Sigma-named fields to events. It is immutable and safe
// for concurrent use.
type Normalizer struct {
	chSlot, eidSlot  int
	byEvent          map[string][]fieldOp // "channel/eid" lower-case
	ecs              []ecsOp
	ecsMarkers       []int
	catSlot, typSlot int
	ecsSources       []ecsSource
}

type fieldOp struct {
	slot, from int
	domain     int // -1: none
	name       string
	set        bool
	fn         func(string) (string, bool)
}

type ecsOp struct {
	slot int
	name string
	from []int
}

type ecsSource struct {
	category, typ string
	channel, eid  string
}

// NewNormalizer compiles field mappings against the schema events are
// decoded with; every name in f.Names() must have a slot in it (intern
// them before the schema is used). tbl gives ECS categories their channel
// and event id.
func NewNormalizer(f *Fields, tbl *Table, s *event.Schema) (*Normalizer, error) {
	slot := func(name string) (int, error) {
		i := s.Slot(name)
		if i < 0 {
			return 0, fmt.Errorf("mapping: field %q has no slot in the schema", name)
		}
		return i, nil
	}
	n := &Normalizer{byEvent: map[string][]fieldOp{}}
	var err error
	if n.chSlot, err = slot("Channel"); err != nil {
		return nil, err
	}
	if n.eidSlot, err = slot("EventID"); err != nil {
		return nil, err
	}
	if n.catSlot, err = slot("event.category"); err != nil {
		return nil, err
	}
	if n.typSlot, err = slot("event.type"); err != nil {
		return nil, err
	}
	for _, ev := range f.Events {
		var ops []fieldOp
		for _, fm := range ev.Fields {
			to, err := slot(fm.Name)
			if err != nil {
				return nil, err
			}
			from, err := slot(fm.From)
			if err != nil {
				return nil, err
			}
			op := fieldOp{slot: to, from: from, domain: -1, name: fm.Name, set: fm.Set, fn: transforms[fm.Transform]}
			if fm.Domain != "" {
				if op.domain, err = slot(fm.Domain); err != nil {
					return nil, err
				}
			}
			ops = append(ops, op)
		}
		for _, id := range ev.EventIDs {
			k := event.ToLower(ev.Channel) + "/" + id
			n.byEvent[k] = append(n.byEvent[k], ops...)
		}
	}
	markers := map[int]bool{}
	for name, froms := range f.ECS.Fields {
		to, err := slot(name)
		if err != nil {
			return nil, err
		}
		op := ecsOp{slot: to, name: name}
		for _, fr := range froms {
			i, err := slot(fr)
			if err != nil {
				return nil, err
			}
			op.from = append(op.from, i)
			markers[i] = true
		}
		n.ecs = append(n.ecs, op)
	}
	for i := range markers {
		n.ecsMarkers = append(n.ecsMarkers, i)
	}
	for _, ls := range f.ECS.LogSource {
		srcs, ok := tbl.Resolve(ls.As, "windows", "")
		if !ok || len(srcs) == 0 || len(srcs[0].EventIDs) == 0 {
			return nil, fmt.Errorf("mapping: ECS category %s: log source %q has no channel and event id", ls.Category, ls.As)
		}
		n.ecsSources = append(n.ecsSources, ecsSource{category: ls.Category, typ: ls.Type, channel: srcs[0].Channel, eid: srcs[0].EventIDs[0]})
	}
	return n, nil
}

// Apply adds the mapped fields to an event.
func (n *Normalizer) Apply(e *event.Event) {
	if n.isECS(e) {
		n.applyECS(e)
	}
	ci, ei := e.First(n.chSlot), e.First(n.eidSlot)
	if ci < 0 || ei < 0 || len(n.byEvent) == 0 {
		return
	}
	var buf [96]byte
	k := append(event.AppendLower(buf[:0], e.Fields[ci].Str), '/')
	k = append(k, strings.TrimSpace(e.Fields[ei].Str)...)
	ops, ok := n.byEvent[string(k)]
	if !ok {
		return
	}
	for _, op := range ops {
		fi := e.First(op.from)
		if fi < 0 {
			continue
		}
		v, ok := op.fn(e.Fields[fi].Str)
		if !ok {
			continue
		}
		if op.domain >= 0 {
			if di := e.First(op.domain); di >= 0 {
				if d := strings.TrimSpace(e.Fields[di].Str); d != "" && d != "-" {
					v = d + `\` + v
				}
			}
		}
		if op.set {
			e.Set(op.slot, op.name, v, event.String)
		} else if !e.Has(op.slot) {
			e.AddSlot(op.slot, op.name, v, event.String)
		}
	}
}

func (n *Normalizer) isECS(e *event.Event) bool {
	for _, m := range n.ecsMarkers {
		if e.Has(m) {
			return true
		}
	}
	return false
}

func (n *Normalizer) applyECS(e *event.Event) {
	for _, op := range n.ecs {
		if e.Has(op.slot) {
			continue
		}
		for _, fr := range op.from {
			if i := e.First(fr); i >= 0 {
				f := e.Fields[i]
				e.AddSlot(op.slot, op.name, f.Str, f.Kind)
				break
			}
		}
	}
	if e.Has(n.chSlot) {
		return
	}
	// An ECS event without a Windows channel: route it by its category.
	for _, s := range n.ecsSources {
		if !hasValue(e, n.catSlot, s.category) || s.typ != "" && !hasValue(e, n.typSlot, s.typ) {
			continue
		}
		e.AddSlot(n.chSlot, "Channel", s.channel, event.String)
		if !e.Has(n.eidSlot) {
			e.AddSlot(n.eidSlot, "EventID", s.eid, event.Number)
		}
		return
	}
}

func hasValue(e *event.Event, slot int, want string) bool {
	for i := e.First(slot); i >= 0; i = e.Next(i) {
		if strings.EqualFold(e.Fields[i].Str, want) {
			return true
		}
	}
	return false
}

// with returns f extended by u: u's event mappings run after f's, u's ECS
// fields and log sources replace f's of the same name.
func (f *Fields) with(u *Fields) *Fields {
	if f == nil {
		return u
	}
	if u == nil {
		return f
	}
	out := &Fields{Events: append(append([]EventFields(nil), f.Events...), u.Events...)}
	out.ECS.Fields = map[string]stringList{}
	for k, v := range f.ECS.Fields {
		out.ECS.Fields[k] = v
	}
	for k, v := range u.ECS.Fields {
		out.ECS.Fields[k] = v
	}
	out.ECS.LogSource = append(append([]ECSLogSource(nil), u.ECS.LogSource...), f.ECS.LogSource...)
	return out
}
