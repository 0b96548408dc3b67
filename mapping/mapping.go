// Package mapping holds the knowledge that ties Sigma's abstract log
// sources (category, product, service) to concrete Windows events (channel
// and event ids). It ships an embedded, documented table (logsources.yaml)
// that users can extend or override with their own file.
package mapping

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed logsources.yaml
var builtin []byte

// Source is one kind of event a log source covers: a channel and, when
// EventIDs is not empty, only those event ids.
type Source struct {
	Channel  string   `yaml:"channel"`
	EventIDs []string `yaml:"eventids"`
}

// LogSource is one entry of the table.
type LogSource struct {
	Category string   `yaml:"category"`
	Product  string   `yaml:"product"`
	Service  string   `yaml:"service"`
	Sources  []Source `yaml:"sources"`
}

// Table maps Sigma log sources to event sources. It is immutable once
// built.
type Table struct {
	entries []LogSource
	fields  *Fields
}

// Fields returns the table's field mappings.
func (t *Table) Fields() *Fields { return t.fields }

type file struct {
	LogSources []struct {
		Category string `yaml:"category"`
		Product  string `yaml:"product"`
		Service  string `yaml:"service"`
		Sources  []struct {
			Channel  string      `yaml:"channel"`
			EventIDs []yaml.Node `yaml:"eventids"`
		} `yaml:"sources"`
	} `yaml:"logsources"`
}

// Default returns the built-in table.
func Default() *Table {
	t, err := Parse("logsources.yaml", builtin)
	if err != nil {
		panic(fmt.Sprintf("built-in mapping is invalid: %v", err))
	}
	t.fields = DefaultFields()
	return t
}

// Load returns the built-in table with the entries of the given files
// added; an entry for the same category, product and service as an earlier
// one replaces it. A file may hold log sources (logsources:), event field
// mappings (events:) and ECS field mappings (ecs:), in the format of the
// built-in logsources.yaml and fields.yaml.
func Load(paths ...string) (*Table, error) {
	t := Default()
	for _, p := range paths {
		data, err := readLimited(p, maxFileSize)
		if err != nil {
			return nil, fmt.Errorf("mapping: %w", err)
		}
		if err := checkShape(p, data); err != nil {
			return nil, err
		}
		u, err := Parse(p, data)
		if err != nil {
			return nil, err
		}
		t = t.With(u)
	}
	return t, nil
}

// maxFileSize caps a mapping file: real ones are a few kilobytes.
const maxFileSize = 16 << 20

// readLimited reads at most limit bytes of the file at path, counting
// what it reads (a device or a pipe has no size to trust), and fails when
// there is more.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: file holds more than the %d-byte limit for mapping files", path, limit)
	}
	return data, nil
}

// checkShape refuses a file that is not a mapping file (an events file or
// a rule given to --mapping by mistake) instead of reading it as an empty
// mapping: it must be a YAML map whose keys are logsources, events or ecs.
func checkShape(name string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: not a mapping file (want YAML with logsources:, events: or ecs:): %w", name, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		line := 1
		if len(doc.Content) > 0 {
			line = doc.Content[0].Line
		}
		return fmt.Errorf("%s:%d: not a mapping file: want a map with logsources:, events: or ecs:", name, line)
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		switch k.Value {
		case "logsources", "events", "ecs":
		default:
			return fmt.Errorf("%s:%d:%d: not a mapping file: unknown key %q (want logsources, events or ecs)", name, k.Line, k.Column, k.Value)
		}
	}
	if len(root.Content) == 0 {
		return fmt.Errorf("%s:%d: not a mapping file: the map is empty (want logsources:, events: or ecs:)", name, root.Line)
	}
	return nil
}

// Parse reads a table in the logsources.yaml format.
func Parse(name string, data []byte) (*Table, error) {
	var f file
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	fields, err := parseFields(name, data)
	if err != nil {
		return nil, err
	}
	t := &Table{fields: fields}
	for i, e := range f.LogSources {
		ls := LogSource{Category: e.Category, Product: e.Product, Service: e.Service}
		if ls.Category == "" && ls.Service == "" {
			return nil, fmt.Errorf("%s: logsources[%d]: needs a category or a service", name, i)
		}
		for _, s := range e.Sources {
			if s.Channel == "" {
				return nil, fmt.Errorf("%s: logsources[%d]: a source needs a channel", name, i)
			}
			src := Source{Channel: s.Channel}
			for _, id := range s.EventIDs {
				if _, err := strconv.ParseUint(id.Value, 10, 32); err != nil {
					return nil, fmt.Errorf("%s:%d:%d: event id %q is not a number", name, id.Line, id.Column, id.Value)
				}
				src.EventIDs = append(src.EventIDs, id.Value)
			}
			ls.Sources = append(ls.Sources, src)
		}
		t.entries = append(t.entries, ls)
	}
	return t, nil
}

// With returns a table holding t's entries overridden and extended by u's.
func (t *Table) With(u *Table) *Table {
	out := &Table{entries: append([]LogSource(nil), t.entries...), fields: t.fields.with(u.fields)}
	for _, e := range u.entries {
		replaced := false
		for i, o := range out.entries {
			if o.Category == e.Category && o.Product == e.Product && o.Service == e.Service {
				out.entries[i], replaced = e, true
			}
		}
		if !replaced {
			out.entries = append(out.entries, e)
		}
	}
	return out
}

// Resolve returns the event sources of a Sigma log source. ok is false when
// the table does not know the log source; a log source that names only a
// product (like "product: windows") resolves to nil sources with ok true,
// meaning every event of that product.
func (t *Table) Resolve(category, product, service string) (sources []Source, ok bool) {
	category, product, service = strings.ToLower(category), strings.ToLower(product), strings.ToLower(service)
	if category == "" && service == "" {
		return nil, product == "" || product == "windows"
	}
	for _, e := range t.entries {
		if category != "" && e.Category != category {
			continue
		}
		if service != "" && e.Service != service {
			continue
		}
		if category == "" && e.Category != "" {
			continue
		}
		if e.Product != "" && product != "" && e.Product != product {
			continue
		}
		sources = append(sources, e.Sources...)
		ok = true
	}
	return sources, ok
}
