package mqtt

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

// aclTable is the device accounts in force, kept compact: a site of
// 10,000 devices has 10,000 accounts of some six rules each, and their
// rule strings were most of the account tables' memory. An account holds
// its devices, not their rules: a check matches the topic against the
// rules of its devices' dialects with the device's name cut out (see
// namedRule), and looks the name the topic holds up among the account's
// devices. Once published in access.tab it is never modified.
type aclTable struct {
	// devs are the driver's devices grouped by account, in account order,
	// and in configuration order within one.
	devs []*device
	// accts are sorted by name; account i has devs[accts[i].lo:] up to
	// the next one's lo.
	accts []acctEntry
	// byName is the index in devs of every device the compact check
	// covers, by dialect and name: the devices behind a topic.
	byName []int32
	// odd are the devices the compact check can not take (a name that
	// could make their rules patterns), by index in devs, with their
	// rules; oddOwned is their part of owns. Empty on a sane site.
	odd      []oddDevice
	oddOwned *ruleSet
	tpl      *templates
	dialects uint8 // of all devs, a bit per dialectCodes entry
}

type acctEntry struct {
	name     string
	lo       int32
	dialects uint8 // of its devices
}

type oddDevice struct {
	i     int32
	rules []Rule
}

// smallAccount is how many devices an account has that a check scans one
// by one; a larger one (a group account) looks names up in byName.
const smallAccount = 8

// dialectCodes numbers the dialects for aclTable's bit sets.
var dialectCodes = [...]string{DialectTasmota, DialectZ2M, DialectShelly1, DialectShelly2}

func dialectCode(dialect string) int {
	for c, d := range dialectCodes {
		if d == dialect {
			return c
		}
	}
	return -1
}

// templates are the rules of each dialect (topics.rules), split into
// those that name no device and those that name one.
type templates [len(dialectCodes)]dialectRules

type dialectRules struct {
	consts []Rule // name no device: checked as they are
	owned  []Rule // the consts in owns: without '+' and not patterns
	named  []namedRule
	// odd: a named rule is not literal around the name (a client id
	// holding '%'): the dialect's devices are checked by their rules.
	odd bool
}

// namedRule is a rule "pre<name>suf", or "pre<name>suf/#" when tree, of
// the device called name. pre and suf are literal and the name is whole
// levels, so the filter covers a topic exactly when the topic is the
// filter's text (or, for a tree, that text or below it); the name is
// found at the level after pre.
type namedRule struct {
	acc      Access
	pre, suf string
	tree     bool
}

// nameMark stands for the device's name while a dialect's rules are cut
// into templates: no device name holds it (SplitAddress).
const nameMark = "\x00"

func (t topics) templates() *templates {
	var out templates
	for c, dialect := range dialectCodes {
		dr := &out[c]
		for _, r := range t.rules(dialect, nameMark) {
			pre, suf, named := strings.Cut(r.Topic, nameMark)
			if !named {
				dr.consts = append(dr.consts, r)
				if !strings.Contains(r.Topic, "+") && !r.pattern() {
					dr.owned = append(dr.owned, r)
				}
				continue
			}
			nr := namedRule{acc: r.Access, pre: pre}
			nr.suf, nr.tree = strings.CutSuffix(suf, "/#")
			dr.odd = dr.odd || !literalAround(nr.pre, nr.suf)
			dr.named = append(dr.named, nr)
		}
	}
	return &out
}

// literalAround says whether pre and suf hold no wildcard, no '%' (a
// pattern's %u or %c) and end at level bounds around a name.
func literalAround(pre, suf string) bool {
	return !strings.ContainsAny(pre+suf, "+#%"+nameMark) &&
		(pre == "" || strings.HasSuffix(pre, "/")) && (suf == "" || strings.HasPrefix(suf, "/"))
}

// plainName says whether a device name keeps its rules literal: one
// level, no wildcard and no '%' (which could make a %u or %c).
func plainName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "/+#%"+nameMark)
}

// nameIn is the name of the device whose rule r covers topic (a topic or
// a subscribe filter), if any device's can.
func (r *namedRule) nameIn(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, r.pre)
	if !ok {
		return "", false
	}
	name, after := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		name, after = rest[:i], rest[i:]
	}
	if !plainName(name) {
		return "", false // a wildcard level, or no device's
	}
	if !r.tree {
		return name, after == r.suf
	}
	below, ok := strings.CutPrefix(after, r.suf)
	return name, ok && (below == "" || below[0] == '/')
}

// accountTable builds the table of devs' accounts (see Accounts).
func (t topics) accountTable(devs []*device, names map[string]string) (*aclTable, error) {
	an, err := assignAccounts(len(devs), func(i int) devRef {
		return devRef{devs[i].id, devs[i].dialect, devs[i].name}
	}, names)
	if err != nil {
		return nil, err
	}
	order := make([]int32, len(devs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(x, y int32) int { return strings.Compare(an[x], an[y]) })
	tab := &aclTable{devs: make([]*device, len(devs)), tpl: t.templates()}
	var odd []Rule
	for k, i := range order {
		dv := devs[i]
		tab.devs[k] = dv
		if k == 0 || an[i] != an[order[k-1]] {
			tab.accts = append(tab.accts, acctEntry{name: an[i], lo: int32(k)})
		}
		c := dialectCode(dv.dialect)
		if c < 0 {
			continue // no rules (SplitAddress knows no other dialect)
		}
		tab.accts[len(tab.accts)-1].dialects |= 1 << c
		tab.dialects |= 1 << c
		if len(tab.tpl[c].named) == 0 {
			continue // its rules are its dialect's consts (Zigbee2MQTT)
		}
		if tab.tpl[c].odd || !plainName(dv.name) {
			rs := t.rules(dv.dialect, dv.name)
			tab.odd = append(tab.odd, oddDevice{int32(k), rs})
			odd = append(odd, ownedOf(rs)...)
			continue
		}
		tab.byName = append(tab.byName, int32(k))
	}
	tab.accts = slices.Clip(tab.accts)
	slices.SortFunc(tab.byName, func(x, y int32) int {
		a, b := tab.devs[x], tab.devs[y]
		return cmp.Or(cmp.Compare(dialectCode(a.dialect), dialectCode(b.dialect)), strings.Compare(a.name, b.name))
	})
	if len(odd) > 0 {
		tab.oddOwned = newRuleSet(odd)
	}
	return tab, nil
}

// ownedOf is those of rs in owns: the topics that belong to a configured
// device (the shared discovery topics, written by any device of a
// family, hold wildcards and are left out).
func ownedOf(rs []Rule) []Rule {
	var out []Rule
	for _, r := range rs {
		if !strings.Contains(r.Topic, "+") && !r.pattern() {
			out = append(out, r)
		}
	}
	return out
}

// find is the index of the account called name.
func (t *aclTable) find(name string) (int, bool) {
	return slices.BinarySearchFunc(t.accts, name, func(e acctEntry, name string) int { return strings.Compare(e.name, name) })
}

// span is account i's devices, devs[lo:hi].
func (t *aclTable) span(i int) (lo, hi int) {
	hi = len(t.devs)
	if i+1 < len(t.accts) {
		hi = int(t.accts[i+1].lo)
	}
	return int(t.accts[i].lo), hi
}

// devices are account i's device ids, in configuration order.
func (t *aclTable) devices(i int) []string {
	lo, hi := t.span(i)
	out := make([]string, 0, hi-lo)
	for _, dv := range t.devs[lo:hi] {
		out = append(out, dv.id)
	}
	return out
}

// allows reports whether account i's rules grant acc on topic (a publish
// topic or a subscribe filter) to its client user/id: as allowed would
// on the account's Rules.
func (t *aclTable) allows(i int, acc Access, user, id, topic string) bool {
	e := &t.accts[i]
	lo, hi := t.span(i)
	for c := range t.tpl {
		if e.dialects&(1<<c) == 0 {
			continue
		}
		dr := &t.tpl[c]
		if allowed(dr.consts, acc, user, id, topic) {
			return true
		}
		if !dr.odd && t.named(dr, c, acc, topic, lo, hi) {
			return true
		}
	}
	j := sort.Search(len(t.odd), func(j int) bool { return int(t.odd[j].i) >= lo })
	for ; j < len(t.odd) && int(t.odd[j].i) < hi; j++ {
		if allowed(t.odd[j].rules, acc, user, id, topic) {
			return true
		}
	}
	return false
}

// named reports whether a named rule of dialect c grants acc on topic to
// a device in devs[lo:hi].
func (t *aclTable) named(dr *dialectRules, c int, acc Access, topic string, lo, hi int) bool {
	for k := range dr.named {
		r := &dr.named[k]
		if r.acc&acc == 0 {
			continue
		}
		name, ok := r.nameIn(topic)
		if ok && t.has(c, name, lo, hi) {
			return true
		}
	}
	return false
}

// has reports whether devs[lo:hi] holds a device of dialect c called
// name whose rules the compact check covers.
func (t *aclTable) has(c int, name string, lo, hi int) bool {
	if hi-lo <= smallAccount {
		for _, dv := range t.devs[lo:hi] {
			// name is plain, so such a device is not odd.
			if dv.name == name && dv.dialect == dialectCodes[c] {
				return true
			}
		}
		return false
	}
	k, _ := slices.BinarySearchFunc(t.byName, name, func(x int32, name string) int {
		dv := t.devs[x]
		return cmp.Or(cmp.Compare(dialectCode(dv.dialect), c), strings.Compare(dv.name, name))
	})
	for ; k < len(t.byName); k++ {
		dv := t.devs[t.byName[k]]
		if dv.name != name || dv.dialect != dialectCodes[c] {
			return false
		}
		if x := int(t.byName[k]); x >= lo && x < hi {
			return true
		}
	}
	return false
}

// owns reports whether a device account may do acc on topic by a rule
// of its own, not shared by a family (without '+' and not a pattern):
// the topics a commissioning client may not touch.
func (t *aclTable) owns(acc Access, topic string) bool {
	for c := range t.tpl {
		if t.dialects&(1<<c) == 0 {
			continue
		}
		dr := &t.tpl[c]
		if allowed(dr.owned, acc, "", "", topic) {
			return true
		}
		if !dr.odd && t.named(dr, c, acc, topic, 0, len(t.devs)) {
			return true
		}
	}
	return t.oddOwned.allows(acc, "", "", topic)
}
