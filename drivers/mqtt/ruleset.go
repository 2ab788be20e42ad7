package mqtt

import "strings"

// smallRuleSet is how many rules a set scans one by one; a larger one
// (the rules of many devices whose names the account table can not
// check compactly: see aclTable.odd) is indexed.
const smallRuleSet = 16

// ruleSet answers "may this client do that on this topic" for a list of
// rules (the commissioning window's, the odd devices'). A small set is a
// list; a large one indexes its plain topics and its "prefix/#" trees by
// topic, so a check costs a map lookup per topic level rather than one
// comparison per rule.
type ruleSet struct {
	list  []Rule            // small sets, and the rules no index holds
	exact map[string]Access // large sets: rules without wildcards
	trees map[string]Access // large sets: rules "p/#" under p
}

func newRuleSet(rules []Rule) *ruleSet {
	if len(rules) <= smallRuleSet {
		return &ruleSet{list: rules}
	}
	s := &ruleSet{exact: map[string]Access{}, trees: map[string]Access{}}
	for _, r := range rules {
		p, tree := strings.CutSuffix(r.Topic, "/#")
		switch {
		case r.pattern() || strings.ContainsAny(p, "+#"):
			s.list = append(s.list, r)
		case tree:
			s.trees[p] |= r.Access
		default:
			s.exact[r.Topic] |= r.Access
		}
	}
	return s
}

// allows reports whether the set grants acc on topic (a publish topic or
// a subscribe filter) to the client user/id.
func (s *ruleSet) allows(acc Access, user, id, topic string) bool {
	if s == nil {
		return false
	}
	if allowed(s.list, acc, user, id, topic) {
		return true
	}
	if s.exact == nil {
		return false
	}
	if s.exact[topic]&acc != 0 || s.trees[topic]&acc != 0 {
		return true
	}
	// A tree "p/#" covers topic when p is a whole-level prefix of it; a
	// wildcard level in a filter never equals an indexed prefix, as
	// indexed topics have none.
	for i := 0; i < len(topic); i++ {
		if topic[i] == '/' && s.trees[topic[:i]]&acc != 0 {
			return true
		}
	}
	return false
}
