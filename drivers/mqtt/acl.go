package mqtt

import (
	"strings"
)

// Access is what an ACL rule allows on its topics.
type Access uint8

// Access bits; a rule may hold both.
const (
	AccessRead Access = 1 << iota
	AccessWrite
)

// String is the access as Mosquitto's acl_file spells it.
func (a Access) String() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	case AccessRead | AccessWrite:
		return "readwrite"
	}
	return "deny"
}

// Rule is one ACL line in Mosquitto's model: Topic is a topic filter in
// which %u stands for the client's username and %c for its client id (a
// "pattern" line); without them it is a plain "topic" line of its account.
type Rule struct {
	Access Access
	Topic  string
}

// String is the rule as an acl_file line.
func (r Rule) String() string {
	kw := "topic"
	if r.pattern() {
		kw = "pattern"
	}
	return kw + " " + r.Access.String() + " " + r.Topic
}

func (r Rule) pattern() bool {
	return strings.Contains(r.Topic, "%u") || strings.Contains(r.Topic, "%c")
}

// expand substitutes %u and %c. As in Mosquitto, a name holding a wildcard
// or a '/' cannot be substituted (it would widen the rule): ok is false.
func (r Rule) expand(user, id string) (string, bool) {
	if !r.pattern() {
		return r.Topic, true
	}
	if strings.Contains(r.Topic, "%u") && (user == "" || strings.ContainsAny(user, "+#/")) {
		return "", false
	}
	if strings.Contains(r.Topic, "%c") && (id == "" || strings.ContainsAny(id, "+#/")) {
		return "", false
	}
	return strings.NewReplacer("%u", user, "%c", id).Replace(r.Topic), true
}

// allowed reports whether rules grant acc on topic to the client user/id.
// For a publish topic has no wildcards; for a subscribe it is the filter,
// allowed only when a rule covers every topic the filter can match.
func allowed(rules []Rule, acc Access, user, id, topic string) bool {
	for _, r := range rules {
		if r.Access&acc == 0 {
			continue
		}
		f, ok := r.expand(user, id)
		if ok && covers(f, topic) {
			return true
		}
	}
	return false
}

// covers reports whether filter matches every topic that sub (a topic or
// a topic filter) matches: a wildcard in sub is covered only by the same
// or a wider wildcard in filter.
func covers(filter, sub string) bool {
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		sl, srest, smore := strings.Cut(sub, "/")
		switch {
		case sl == "#":
			return false // only '#' covers '#'
		case fl == "+":
			// any single level, '+' included
		case fl != sl || sl == "+":
			return false
		}
		if !fmore || !smore {
			// "a/#" also matches "a" itself.
			return fmore == smore || (fmore && frest == "#")
		}
		filter, sub = frest, srest
	}
}
