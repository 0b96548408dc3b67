package event

import "unicode/utf8"

// Schema assigns slots to the field names that rules refer to, so that
// matching reads a field by index instead of by name. Field names are
// matched case-insensitively and without spaces: the Sigma specification
// writes the Windows field "Threat Name" as ThreatName. A Schema is
// immutable once built and safe for concurrent use.
type Schema struct {
	names []string
	exact map[string]int
	fold  map[string]int
	// Keywords is true when some rule searches every field (keyword
	// detections); readers must then keep every field, not only slotted
	// ones.
	Keywords bool
}

// TimeFields are the fields an event's timestamp is read from, in order of
// preference.
var TimeFields = []string{"@timestamp", "TimeCreated_SystemTime", "TimeCreated", "UtcTime", "Event.System.TimeCreated.#attributes.SystemTime", "EventTime", "timestamp"}

// HostFields are the fields naming the host an event comes from, in order
// of preference.
var HostFields = []string{"Computer", "Hostname", "host.name", "Event.System.Computer", "winlog.computer_name"}

// NewSchema returns a schema with one slot per distinct (case-folded)
// name, plus slots for the time and host fields that every reader and
// output looks up.
func NewSchema(names []string) *Schema {
	s := &Schema{exact: map[string]int{}, fold: map[string]int{}}
	for _, n := range TimeFields {
		s.Intern(n)
	}
	for _, n := range HostFields {
		s.Intern(n)
	}
	for _, n := range names {
		s.Intern(n)
	}
	return s
}

// Intern returns the slot of name, adding one if needed. It must not be
// called once the schema is in use by events.
func (s *Schema) Intern(name string) int {
	if i, ok := s.exact[name]; ok {
		return i
	}
	l := string(appendFold(nil, name))
	if i, ok := s.fold[l]; ok {
		s.exact[name] = i
		return i
	}
	i := len(s.names)
	s.names = append(s.names, name)
	s.exact[name] = i
	s.fold[l] = i
	return i
}

// Len returns the number of slots.
func (s *Schema) Len() int { return len(s.names) }

// Name returns the name a slot was first interned under.
func (s *Schema) Name(slot int) string { return s.names[slot] }

// Slot returns the slot of a field name, or -1.
func (s *Schema) Slot(name string) int {
	if i, ok := s.exact[name]; ok {
		return i
	}
	var buf [64]byte
	if i, ok := s.fold[string(appendFold(buf[:0], name))]; ok {
		return i
	}
	return -1
}

// appendFold appends the key names are compared by: lower case, without
// spaces.
func appendFold(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= utf8.RuneSelf {
			l := AppendLower(nil, name[i:])
			for _, c := range l {
				if c != ' ' {
					dst = append(dst, c)
				}
			}
			return dst
		}
		if c == ' ' {
			continue
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// SlotBytes is Slot for a name held in a byte slice; it does not allocate.
func (s *Schema) SlotBytes(name []byte) int {
	if i, ok := s.exact[string(name)]; ok {
		return i
	}
	if len(name) <= 64 {
		var buf [64]byte
		lb := buf[:0]
		for _, c := range name {
			if c >= utf8.RuneSelf {
				return s.Slot(string(name))
			}
			if c == ' ' {
				continue
			}
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			lb = append(lb, c)
		}
		if i, ok := s.fold[string(lb)]; ok {
			return i
		}
		return -1
	}
	return s.Slot(string(name))
}
