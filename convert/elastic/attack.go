package elastic

import (
	"strings"

	"github.com/vigil-detect/vigil/attack"
)

// The ATT&CK threat block of Elastic detection rules, derived from a
// rule's attack.* tags as pySigma does, with vigil's ATT&CK table
// (package attack):
//
//   - tactics: the 14 Enterprise tactics, by Sigma's tag name. The name is
//     written as pySigma writes it, the tag's words capitalised ("Command
//     And Control"), not as the table names it.
//   - techniques: id and reference URL come from the tag; the name from
//     the table. A technique missing from the table is written with its
//     id as its name.
//   - a technique belongs to the tactic whose tag precedes it (Sigma rules
//     write a tactic, then its techniques); techniques before any tactic
//     belong to the first tactic. pySigma assigns them from ATT&CK's
//     technique-to-tactic data instead, which differs when the tags are
//     not written in that order.
//
// The attack.* tags turned into the block are dropped from the rule's
// tags, as pySigma does.

func tacticName(tag string) string {
	ws := strings.Split(tag, "_")
	for i, w := range ws {
		if w != "" {
			ws[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(ws, " ")
}

func techniqueName(id string) string {
	if n := attack.TechniqueName(id); n != "" {
		return n
	}
	return id
}

// Threat returns the threat block for a rule's tags and the tags that
// remain (those not turned into it).
func Threat(tags []string) ([]any, []string) {
	type tech struct {
		id   string
		subs []string
	}
	type tac struct {
		tag   string
		id    string
		techs []*tech
	}
	var tacs []*tac
	var pending []string // techniques before any tactic
	rest := []string{}
	add := func(t *tac, id string) {
		parent, sub := id, ""
		if i := strings.IndexByte(id, '.'); i >= 0 {
			parent, sub = id[:i], id
		}
		var te *tech
		for _, x := range t.techs {
			if x.id == parent {
				te = x
			}
		}
		if te == nil {
			te = &tech{id: parent}
			t.techs = append(t.techs, te)
		}
		if sub != "" {
			for _, s := range te.subs {
				if s == sub {
					return
				}
			}
			te.subs = append(te.subs, sub)
		}
	}
	for _, tag := range tags {
		l := strings.ToLower(tag)
		if !strings.HasPrefix(l, "attack.") {
			rest = append(rest, tag)
			continue
		}
		name := strings.TrimPrefix(l, "attack.")
		if t, ok := attack.TacticOf(name); ok {
			tacs = append(tacs, &tac{tag: name, id: t.ID})
			continue
		}
		if id, ok := attack.TechniqueID(l); ok {
			if len(tacs) == 0 {
				pending = append(pending, id)
			} else {
				add(tacs[len(tacs)-1], id)
			}
			continue
		}
		rest = append(rest, tag) // groups, software, other attack.* tags
	}
	if len(tacs) == 0 {
		// Techniques without a tactic give no threat entry (Kibana
		// requires the tactic); keep their tags.
		return []any{}, nonNil(tags)
	}
	for _, id := range pending {
		add(tacs[0], id)
	}
	threat := []any{}
	for _, t := range tacs {
		id := t.id
		techs := []any{}
		for _, te := range t.techs {
			subs := []any{}
			for _, s := range te.subs {
				subs = append(subs, map[string]any{"id": s, "name": techniqueName(s), "reference": attack.TechniqueURL(s)})
			}
			techs = append(techs, map[string]any{"id": te.id, "name": techniqueName(te.id), "reference": attack.TechniqueURL(te.id), "subtechnique": subs})
		}
		threat = append(threat, map[string]any{
			"framework": "MITRE ATT&CK",
			"tactic":    map[string]any{"id": id, "name": tacticName(t.tag), "reference": attack.TacticURL(id)},
			"technique": techs,
		})
	}
	return threat, rest
}
