package elastic

import (
	_ "embed"
	"strings"
	"sync"
)

// fieldsTxt lists the field names an Elasticsearch index of Windows
// events can hold: ECS's flat field names and Winlogbeat's winlog.*
// fields, with their sources and versions in its header.
//
//go:embed fields.txt
var fieldsTxt string

var (
	fieldsOnce sync.Once
	fields     map[string]bool
	objects    []string
)

// KnownField reports whether name is an ECS field or one Winlogbeat
// writes (any name under winlog.event_data. and winlog.user_data.).
func KnownField(name string) bool {
	fieldsOnce.Do(func() {
		fields = map[string]bool{}
		for _, l := range strings.Split(fieldsTxt, "\n") {
			l = strings.TrimSpace(l)
			switch {
			case l == "" || strings.HasPrefix(l, "#"):
			case strings.HasSuffix(l, ".*"):
				objects = append(objects, strings.TrimSuffix(l, "*"))
			default:
				fields[l] = true
			}
		}
	})
	if fields[name] {
		return true
	}
	for _, o := range objects {
		if strings.HasPrefix(name, o) && len(name) > len(o) {
			return true
		}
	}
	return false
}
