package kql

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/vigil-detect/vigil/convert"
	"github.com/vigil-detect/vigil/sigma"
)

// Check implements convert.Checker: when the rule's table is one of the
// embedded schemas (TableSchema), every field the query would name must
// be a column of it, and every value must be one the column's type can
// hold. Conditions that cannot hold there are dropped or the rule is
// refused, as convert.DropAbsent decides; conditions a KQL query cannot
// write against the column's type (string tests on a datetime column)
// refuse the rule. Tables vigil has no schema for (a user pipeline's
// query_table) are not checked.
func (Backend) Check(p *convert.Prepared) ([]*convert.Warning, error) {
	tbl, ok := p.State["query_table"].(string)
	if !ok {
		return nil, nil
	}
	s, ok := TableSchema(tbl)
	if !ok {
		return nil, nil
	}
	tree, err := hexIDs(p)
	if err != nil {
		return nil, err
	}
	if b, _ := p.State["split_domain_user"].(bool); b {
		if tree, err = s.splitDomainUser(tree); err != nil {
			return nil, err
		}
	}
	if hc, ok := p.State["hash_columns"].(map[string]any); ok {
		if tree, err = splitHashes(tree, hc); err != nil {
			return nil, err
		}
	}
	var refuse error
	convert.Walk(tree, func(c *convert.Cond) {
		if refuse == nil {
			refuse = s.unwritable(c)
		}
	})
	if refuse != nil {
		return nil, refuse
	}
	ed := eventDataFields(p)
	tree, dropped, err := convert.DropAbsent(tree, "kql", func(c *convert.Cond) (string, bool) {
		if ed[c.Field] && s.Columns[c.Field] == "" && (c.Op != convert.OpFieldRef || ed[c.Ref] || s.Columns[c.Ref] != "") {
			return "", false // read from EventData, a string
		}
		return s.absent(c)
	})
	if err != nil {
		return nil, err
	}
	p.Tree = tree
	var ws []*convert.Warning
	for _, d := range dropped {
		ws = append(ws, convert.Unsupported(d.Cond.Pos, "kql", "%s: the alternative can never match there and is left out", d.Reason))
	}
	return ws, nil
}

// missing is the reason a field has no column in the table.
func (s *Schema) missing(col, orig string) string {
	f := ""
	if orig != "" && orig != col {
		f = fmt.Sprintf(" (field %s)", orig)
	}
	return fmt.Sprintf("%s has no column %s%s; columns from %s", s.Name, col, f, s.SourceOf())
}

// checkColumn refuses a column the query would name (group-by, time,
// value fields of correlations: what, at pos) that the table does not
// have.
func checkColumn(p *convert.Prepared, pos sigma.Pos, what, col string) error {
	tbl, _ := p.State["query_table"].(string)
	s, ok := TableSchema(tbl)
	if !ok {
		return nil
	}
	if _, ok := s.Columns[col]; !ok && !eventDataFields(p)[col] {
		return convert.Unsupported(pos, "kql", "%s of rule %q: %s", what, p.Rule.Title, s.missing(col, ""))
	}
	return nil
}

func isNumeric(ty string) bool {
	switch ty {
	case "int", "long", "real", "decimal":
		return true
	}
	return false
}

// parseNum reads a decimal or 0x-hexadecimal integer, or (for real
// columns) a decimal number, as a Kusto literal.
func parseNum(s, ty string) (string, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		n, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil || (ty == "int" && n > 1<<31-1) || n > 1<<63-1 {
			return "", false
		}
		return strconv.FormatUint(n, 10), true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ty == "int" && (n > 1<<31-1 || n < -1<<31) {
			return "", false
		}
		return strconv.FormatInt(n, 10), true
	}
	if ty == "real" || ty == "decimal" {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return convert.Num(f), true
		}
	}
	return "", false
}

func parseBool(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return "true", true
	case "false", "0":
		return "false", true
	}
	return "", false
}

// absent reports a condition that cannot hold on the table: its field
// (or the field it references) has no column, or its value can never
// be of the column's type (a word on a number or bool column).
func (s *Schema) absent(c *convert.Cond) (string, bool) {
	if c.Field == "" {
		return "", false
	}
	ty, ok := s.Columns[c.Field]
	if !ok {
		return s.missing(c.Field, c.Orig), true
	}
	if c.Op == convert.OpFieldRef {
		if _, ok := s.Columns[c.Ref]; !ok {
			return s.missing(c.Ref, ""), true
		}
	}
	if c.Op == convert.OpString {
		shape, lit := c.Pat.Shape()
		if shape != convert.ShapeExact {
			return "", false
		}
		switch {
		case isNumeric(ty):
			if _, ok := parseNum(lit, ty); !ok {
				return fmt.Sprintf("%s.%s is a number (%s): value %q can never equal it", s.Name, c.Field, ty, lit), true
			}
		case ty == "bool":
			if _, ok := parseBool(lit); !ok {
				return fmt.Sprintf("%s.%s is a bool: value %q can never equal it", s.Name, c.Field, lit), true
			}
		}
	}
	return "", false
}

// unwritable refuses a comparison KQL cannot make on the column's type
// with the rule's meaning: string tests on a datetime or timespan column
// (Kusto's text form of a datetime is not the log's).
func (s *Schema) unwritable(c *convert.Cond) error {
	ty := s.Columns[c.Field]
	if ty != "datetime" && ty != "timespan" {
		return nil
	}
	switch c.Op {
	case convert.OpExists, convert.OpNull:
		return nil
	}
	return convert.Unsupported(c.Pos, "kql", "%s.%s is a %s column: the rule's %s test on %s cannot be written with its meaning (the column's text form is not the log's)", s.Name, c.Field, ty, opName(c.Op), c.Orig)
}

func opName(op convert.Op) string {
	switch op {
	case convert.OpString:
		return "string"
	case convert.OpNumber:
		return "number"
	case convert.OpRegex:
		return "regular expression"
	case convert.OpCIDR:
		return "CIDR"
	case convert.OpFieldRef:
		return "field reference"
	}
	return "range"
}

// splitDomainUser writes a DOMAIN\user value on an account-name column
// (AccountName, InitiatingProcessAccountName, RequestAccountName) as
// a test of the table's domain column (AccountDomain, ...) and one of the
// name column, as pySigma's microsoft_xdr pipeline does: Defender XDR
// keeps the two apart. The value is split at its first backslash; a side
// that is only "*" is not tested.
func (s *Schema) splitDomainUser(tree convert.Node) (convert.Node, error) {
	return convert.Rewrite(tree, func(c *convert.Cond) (convert.Node, error) {
		if c.Op != convert.OpString || !strings.HasSuffix(c.Field, "AccountName") {
			return c, nil
		}
		dom := strings.TrimSuffix(c.Field, "Name") + "Domain"
		if _, ok := s.Columns[dom]; !ok {
			return c, nil
		}
		var left, right convert.Pattern
		found := false
		for _, t := range c.Pat {
			if !found && t.Kind == convert.Lit {
				if i := strings.IndexByte(t.Lit, '\\'); i >= 0 {
					found = true
					if i > 0 {
						left = append(left, convert.Tok{Kind: convert.Lit, Lit: t.Lit[:i]})
					}
					if i+1 < len(t.Lit) {
						right = append(right, convert.Tok{Kind: convert.Lit, Lit: t.Lit[i+1:]})
					}
					continue
				}
			}
			if found {
				right = append(right, t)
			} else {
				left = append(left, t)
			}
		}
		if !found {
			return c, nil
		}
		var args []convert.Node
		for _, side := range []struct {
			col string
			pat convert.Pattern
		}{{dom, left}, {c.Field, right}} {
			if shape, _ := side.pat.Shape(); shape == convert.ShapeAny {
				continue
			}
			x := *c
			x.Field, x.Pat = side.col, side.pat
			args = append(args, &x)
		}
		if len(args) == 1 {
			return args[0], nil
		}
		return &convert.And{Args: args}, nil
	})
}

var hashValue = regexp.MustCompile(`^(?i)(SHA1|SHA256|MD5|IMPHASH)=([0-9A-F]+)$`)

// hashLen is the length of each algorithm's hex digest.
var hashLen = map[string]int{"MD5": 32, "SHA1": 40, "SHA256": 64, "IMPHASH": 32}

// splitHashes writes a test of Sysmon's Hashes field ("SHA1=...,
// MD5=...,SHA256=...,IMPHASH=...") for one algorithm's digest
// ("SHA256=AB12...") as a test of the table's column for that algorithm
// (the pipeline's state hash_columns, such as SHA256: SHA256 in Defender
// XDR): the whole digest is compared with =~, a partial one (a contains or
// startswith on its first digits) with startswith. Values of other shapes,
// and algorithms without a column, stay on Hashes (which the schema check
// then drops or refuses).
func splitHashes(tree convert.Node, cols map[string]any) (convert.Node, error) {
	return convert.Rewrite(tree, func(c *convert.Cond) (convert.Node, error) {
		if c.Field != "Hashes" || c.Op != convert.OpString || c.Cased {
			return c, nil
		}
		shape, lit := c.Pat.Shape()
		m := hashValue.FindStringSubmatch(lit)
		if m == nil || shape == convert.ShapeAny || shape == convert.ShapeGlob {
			return c, nil
		}
		algo := strings.ToUpper(m[1])
		col, ok := cols[algo].(string)
		if !ok {
			return c, nil
		}
		x := *c
		x.Field = col
		x.Pat = convert.Pattern{{Kind: convert.Lit, Lit: m[2]}}
		if len(m[2]) < hashLen[algo] && (shape == convert.ShapeContains || shape == convert.ShapePrefix) {
			x.Pat = append(x.Pat, convert.Tok{Kind: convert.Star})
		}
		return &x, nil
	})
}
