package sigma

import (
	"time"

	"github.com/vigil-detect/vigil/sigma/condition"
)

// Pos is a position in a rule file. Line and Col are 1-based; zero means
// unknown.
type Pos struct {
	File string
	Line int
	Col  int
}

// Meta holds the descriptive attributes shared by rules, correlations and
// filters.
type Meta struct {
	Pos            Pos // position of the document
	Title          string
	ID             string
	Name           string
	Status         string
	Description    string
	Author         string
	Date           string
	Modified       string
	Level          string
	References     []string
	Tags           []string
	FalsePositives []string
	Fields         []string
	Related        []Related
	// Custom holds attributes this package does not interpret, decoded to
	// plain Go values.
	Custom map[string]any
}

// Related is one entry of a rule's related list.
type Related struct {
	ID   string
	Type string
}

// LogSource is a rule's logsource section.
type LogSource struct {
	Pos        Pos
	Category   string
	Product    string
	Service    string
	Definition string
}

// Rule is a Sigma detection rule.
type Rule struct {
	Meta
	LogSource LogSource
	Detection Detection
}

// Detection is a rule's detection section.
type Detection struct {
	Pos Pos
	// Searches holds the search identifiers in document order.
	Searches []*Search
	// Conditions are the rule's conditions; several conditions are ORed.
	Conditions []*Condition
	// Timeframe is the Sigma v1 timeframe, used by Aggregation.
	Timeframe string
	// Aggregation is a Sigma v1 aggregation ("selection | count() by x >
	// 5"), which Sigma v2 replaced with correlation rules. Loaders turn it
	// into an equivalent correlation; nil for v2 rules.
	Aggregation *Aggregation
}

// Aggregation is a Sigma v1 aggregation expression: Func(Field) by GroupBy
// Op Value.
type Aggregation struct {
	Pos     Pos
	Func    string // count, sum, avg
	Field   string
	GroupBy []string
	Cond    CountCondition
}

// Search returns the search identifier called name, or nil.
func (d *Detection) Search(name string) *Search {
	for _, s := range d.Searches {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Condition is one condition expression with its parsed tree.
type Condition struct {
	Pos  Pos // position of the expression's first character
	Text string
	Expr condition.Node
}

// Search is a named search identifier. It matches when any of its
// alternatives matches: a single map has one alternative, a list of maps
// one per map, and a list of plain values is one alternative holding a
// keyword item.
type Search struct {
	Pos          Pos
	Name         string
	Alternatives []*Selection
}

// Selection is a map of field items, all of which must match.
type Selection struct {
	Pos   Pos
	Items []*Item
}

// Item is "field|mod|mod: values". Field is empty for keyword items, which
// search every field of an event.
type Item struct {
	Pos       Pos
	Field     string
	Modifiers []Modifier
	Values    []*Value
}

// Has reports whether the item carries modifier m.
func (it *Item) Has(m string) bool {
	for _, x := range it.Modifiers {
		if x.Name == m {
			return true
		}
	}
	return false
}

// Modifier is one value modifier of an item, lower-cased.
type Modifier struct {
	Pos  Pos
	Name string
}

// ValueKind tells what a YAML scalar was.
type ValueKind uint8

// Kinds of values.
const (
	StringValue ValueKind = iota
	NumberValue
	BoolValue
	NullValue
)

// Value is one scalar of an item. Text is the scalar as written (for
// numbers and booleans too).
type Value struct {
	Pos  Pos
	Kind ValueKind
	Text string
	Num  float64 // for NumberValue
}

// Correlation is a Sigma correlation rule.
type Correlation struct {
	Meta
	Type      string
	Rules     []string
	RulesPos  []Pos
	GroupBy   []string
	Timespan  time.Duration
	Condition []CountCondition
	// Field is the value field of value_count, value_sum, value_avg,
	// value_percentile and value_median correlations.
	Field string
	// Percentile is the percentile of value_percentile correlations.
	Percentile float64
	// Aliases maps an alias name to a map from rule reference to the field
	// that rule's events carry the value in.
	Aliases  map[string]map[string]string
	Generate bool
	// TypePos and the like locate elements for later diagnostics.
	TypePos Pos
}

// CountCondition is one comparison of a correlation's condition, such as
// "gte: 100". All comparisons of a condition must hold.
type CountCondition struct {
	Pos   Pos
	Op    string // gt gte lt lte eq neq
	Value float64
}

// Holds reports whether v satisfies the comparison.
func (c CountCondition) Holds(v float64) bool {
	switch c.Op {
	case "gt":
		return v > c.Value
	case "gte":
		return v >= c.Value
	case "lt":
		return v < c.Value
	case "lte":
		return v <= c.Value
	case "eq":
		return v == c.Value
	case "neq":
		return v != c.Value
	}
	return false
}

// Filter is a Sigma filter (meta filter) document: a detection applied to
// the rules it names, which then only match when the filter condition holds
// too: (rule condition) and (filter condition).
type Filter struct {
	Meta
	LogSource LogSource
	Rules     []string
	Detection Detection
}

// File is what one rule file holds.
type File struct {
	Path         string
	Rules        []*Rule
	Correlations []*Correlation
	Filters      []*Filter
	// Warnings are problems that did not stop a document from loading.
	Warnings []*Error
}
