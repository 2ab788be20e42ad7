package broker

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxTopic is the longest topic a length prefix can carry.
const maxTopic = 65535

// maxLevels bounds a filter's levels: each is a node of the subscription
// tree, about 300 bytes. Real topics have a handful.
const maxLevels = 64

func validText(kind, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrBadTopic, kind)
	case len(s) > maxTopic:
		return fmt.Errorf("%w: %s of %d bytes", ErrBadTopic, kind, len(s))
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s %s is not UTF-8", ErrBadTopic, kind, quoted(s))
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: %s %s holds U+0000", ErrBadTopic, kind, quoted(s))
	}
	return nil
}

// ValidTopic checks a topic name one publishes to: not empty, UTF-8,
// no wildcards.
func ValidTopic(topic string) error {
	if err := validText("topic", topic); err != nil {
		return err
	}
	if strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("%w: topic %s holds a wildcard", ErrBadTopic, quoted(topic))
	}
	return nil
}

// ValidFilter checks a subscription's topic filter: '+' only as a whole
// level, '#' only as the whole last level.
func ValidFilter(filter string) error {
	if err := validText("filter", filter); err != nil {
		return err
	}
	if n := strings.Count(filter, "/") + 1; n > maxLevels {
		return fmt.Errorf("%w: filter of %d levels (at most %d)", ErrBadTopic, n, maxLevels)
	}
	rest := filter
	for {
		level, tail, more := strings.Cut(rest, "/")
		if len(level) > 1 && strings.ContainsAny(level, "+#") || level == "#" && more {
			return fmt.Errorf("%w: filter %s: a wildcard must be a whole level, and '#' the last", ErrBadTopic, quoted(filter))
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

// Matches reports whether topic falls under filter (both valid). As the
// protocol says, a filter starting with a wildcard does not match topics
// starting with '$'.
func Matches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			return frest == "#" // "a/#" matches "a"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

// short is a topic or filter as a log line shows it: cut after 100
// bytes.
func short(s string) string {
	if len(s) <= 100 {
		return s
	}
	cut := 100
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (%d bytes)", len(s))
}

// quoted is a topic or filter as an error shows it: quoted, and cut
// after 100 bytes.
func quoted(s string) string {
	if short := short(s); len(short) < len(s) {
		head, tail, _ := strings.Cut(short, "... (")
		return strconv.Quote(head) + "... (" + tail
	}
	return strconv.Quote(s)
}

// wildcard reports whether a filter has '+' or '#'.
func wildcard(filter string) bool { return strings.ContainsAny(filter, "+#") }

// sub is one subscriber of a filter: a network session or an in-process
// Local, with the QoS it was granted.
type sub struct {
	s   *session
	l   *Local
	qos byte
}

func (a sub) same(b sub) bool { return a.s == b.s && a.l == b.l }

// node is a level of the subscription tree. Its children are kept
// apart, and only while there are some: most nodes are the last level of
// a filter (a device's "+" or "set") and have none, and a node is 32
// bytes, not 64.
type node struct {
	children *kids
	subs     []sub
}

// child is the child at level, or nil.
func (n *node) child(level string) *node {
	if n.children == nil {
		return nil
	}
	return n.children.get(level)
}

// adopt makes c the child at level.
func (n *node) adopt(level string, c *node) {
	if n.children == nil {
		n.children = &kids{}
	}
	n.children.put(level, c)
}

// disown removes the child at level.
func (n *node) disown(level string) {
	if n.children != nil && n.children.del(level) && n.children.len() == 0 {
		n.children = nil
	}
}

// bare reports whether n has neither subscribers nor children.
func (n *node) bare() bool { return len(n.subs) == 0 && n.children == nil }

// tree is the subscriptions: the filters with a wildcard in a tree of
// their levels, the others in a map by filter, and how many
// subscriptions (a filter of one subscriber) there are in all. A
// device's own filters are mostly exact ("zigbee2mqtt/<name>/set"), and
// a filter in the map is one entry, where in the tree it is a node for
// each level the other filters do not share (its name's, its last).
// Most exact filters have one subscriber (the device whose commands they
// carry): that one is the map's value itself (one), not a slice of one
// (many holds the others). Guarded by Broker.subMu.
type tree struct {
	root node
	one  map[string]sub
	many map[string][]sub
	n    int
}

func (t *tree) add(filter string, x sub) {
	var fresh bool
	if wildcard(filter) {
		fresh = t.root.add(filter, x)
	} else {
		fresh = t.addExact(filter, x)
	}
	if fresh {
		t.n++
	}
}

// addExact subscribes x to a filter without wildcards.
func (t *tree) addExact(filter string, x sub) (fresh bool) {
	if subs, ok := t.many[filter]; ok {
		t.many[filter], fresh = addSub(subs, x)
		return fresh
	}
	y, ok := t.one[filter]
	switch {
	case ok && y.same(x):
		t.one[filter] = x // the new grant
		return false
	case ok:
		delete(t.one, filter)
		if t.many == nil {
			t.many = map[string][]sub{}
		}
		t.many[filter] = []sub{y, x}
	default:
		if t.one == nil {
			t.one = map[string]sub{}
		}
		t.one[filter] = x
	}
	return true
}

func (t *tree) remove(filter string, x sub) {
	var removed bool
	if wildcard(filter) {
		_, removed = t.root.remove(filter, x)
	} else {
		removed = t.removeExact(filter, x)
	}
	if removed {
		t.n--
	}
}

// removeExact drops x's subscription to a filter without wildcards.
func (t *tree) removeExact(filter string, x sub) (removed bool) {
	if y, ok := t.one[filter]; ok {
		if y.same(x) {
			delete(t.one, filter)
			return true
		}
		return false
	}
	subs, ok := t.many[filter]
	if !ok {
		return false
	}
	subs, removed = dropSub(subs, x)
	switch len(subs) {
	case 0:
		delete(t.many, filter)
	case 1:
		delete(t.many, filter)
		t.one[filter] = subs[0]
	default:
		t.many[filter] = subs
	}
	return removed
}

// match appends to out the subscribers whose filters match topic, one
// entry per subscriber with the highest QoS it holds.
func (t *tree) match(topic string, out []sub) []sub {
	if x, ok := t.one[topic]; ok {
		one := [1]sub{x}
		out = merge(out, one[:])
	}
	out = merge(out, t.many[topic])
	return t.root.match(topic, out)
}

// addSub subscribes x, replacing an earlier grant; fresh reports
// whether the subscription is new.
func addSub(subs []sub, x sub) (_ []sub, fresh bool) {
	for i := range subs {
		if subs[i].same(x) {
			subs[i].qos = x.qos
			return subs, false
		}
	}
	return append(subs, x), true
}

// dropSub removes x's subscription, if it has one.
func dropSub(subs []sub, x sub) (_ []sub, removed bool) {
	for i := range subs {
		if subs[i].same(x) {
			last := len(subs) - 1
			subs[i] = subs[last]
			subs[last] = sub{}
			if last == 0 {
				return nil, true
			}
			return subs[:last], true
		}
	}
	return subs, false
}

// add subscribes x to filter, replacing an earlier grant; it reports
// whether the subscription is new.
func (n *node) add(filter string, x sub) bool {
	for _, level := range strings.Split(filter, "/") {
		c := n.child(level)
		if c == nil {
			c = &node{}
			n.adopt(level, c)
		}
		n = c
	}
	var fresh bool
	n.subs, fresh = addSub(n.subs, x)
	return fresh
}

// remove drops x's subscription to filter and prunes emptied levels. It
// reports whether n itself is now empty, and whether x held filter.
func (n *node) remove(filter string, x sub) (empty, removed bool) {
	level, rest, more := strings.Cut(filter, "/")
	c := n.child(level)
	if c == nil {
		return false, false
	}
	if more {
		var gone bool
		if gone, removed = c.remove(rest, x); gone {
			n.disown(level)
		}
	} else {
		c.subs, removed = dropSub(c.subs, x)
		if c.bare() {
			n.disown(level)
		}
	}
	return n.bare(), removed
}

// match appends to out the subscribers whose filters in the tree match
// topic (see tree.match).
func (n *node) match(topic string, out []sub) []sub {
	dollar := strings.HasPrefix(topic, "$")
	return n.walk(topic, !dollar, out)
}

func (n *node) walk(topic string, wild bool, out []sub) []sub {
	level, rest, more := strings.Cut(topic, "/")
	if wild {
		if c := n.child("#"); c != nil {
			out = merge(out, c.subs)
		}
		if c := n.child("+"); c != nil {
			out = c.next(rest, more, out)
		}
	}
	if c := n.child(level); c != nil {
		out = c.next(rest, more, out)
	}
	return out
}

func (n *node) next(rest string, more bool, out []sub) []sub {
	if more {
		return n.walk(rest, true, out)
	}
	out = merge(out, n.subs)
	if c := n.child("#"); c != nil {
		out = merge(out, c.subs)
	}
	return out
}

// merge adds subs to out, keeping one entry per subscriber (the highest
// QoS): the protocol allows one copy where filters overlap.
func merge(out, subs []sub) []sub {
	if len(out) == 0 {
		return append(out, subs...) // one node holds a subscriber once
	}
next:
	for _, x := range subs {
		for i := range out {
			if out[i].same(x) {
				out[i].qos = max(out[i].qos, x.qos)
				continue next
			}
		}
		out = append(out, x)
	}
	return out
}
