package mqtt

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"hubd/drivers/mqtt/broker"
)

// tableDevs are devices of every dialect meant to trip a compact check:
// names that are prefixes of each other (dev1, dev1x), names equal to
// the constant parts of rules (tasmotas, announce, command, rpc, hubd),
// outputs of one device on different accounts, accounts of several
// dialects, a group account larger than smallAccount, and names holding
// '%' (whose rules are patterns).
func tableDevs() ([]devRef, map[string]string) {
	devs := []devRef{
		{"dev1", DialectTasmota, "dev1"},
		{"dev1x", DialectTasmota, "dev1x"},
		{"dev", DialectTasmota, "dev"},
		{"lamp", DialectTasmota, "lamp"},
		{"lamp-2", DialectTasmota, "lamp"},
		{"lamp-3", DialectTasmota, "lamp"},
		{"tasmotas", DialectTasmota, "tasmotas"},
		{"odd-u", DialectTasmota, "a%u"},
		{"odd-c", DialectShelly2, "b%c"},
		{"odd-pct", DialectShelly1, "p%t"},
		{"plug1", DialectShelly1, "shellyplug-1"},
		{"plug10", DialectShelly1, "shellyplug-10"},
		{"announce", DialectShelly1, "announce"},
		{"command", DialectShelly1, "command"},
		{"plus1", DialectShelly2, "plus-1"},
		{"plus1-light", DialectShelly2, "plus-1"},
		{"plus1x", DialectShelly2, "plus-1x"},
		{"rpc", DialectShelly2, "rpc"},
		{"hubd", DialectShelly2, "hubd"},
		{"bulb-a", DialectZ2M, "hall/a"},
		{"bulb-b", DialectZ2M, "hall/b"},
	}
	devs = append(devs, devRef{"mix-t", DialectTasmota, "mix-t"}, devRef{"mix-s", DialectShelly1, "mix-s"}, devRef{"mix-2", DialectShelly2, "mix-2"})
	names := map[string]string{"lamp-2": "other", "plus1-light": "group", "bulb-b": "bulbs", "mix-s": "mix-t", "mix-2": "mix-t"}
	for i := range 12 {
		id := "g" + string(rune('a'+i))
		dialect := []string{DialectTasmota, DialectShelly1, DialectShelly2}[i%3]
		devs = append(devs, devRef{id, dialect, "grp-" + id})
		names[id] = "group"
	}
	devs = append(devs, devRef{"g-dev1", DialectTasmota, "dev1"}) // dev1's topic in the group too
	names["g-dev1"] = "group"
	return devs, names
}

// testTable is the account table of devices refs under options o.
func testTable(t *testing.T, o Options, refs []devRef, names map[string]string) (topics, *aclTable) {
	t.Helper()
	tp, err := topicsOf(o)
	if err != nil {
		t.Fatal(err)
	}
	devs := make([]*device, len(refs))
	for i, r := range refs {
		devs[i] = &device{id: r.id, dialect: r.dialect, name: r.name}
	}
	tab, err := tp.accountTable(devs, names)
	if err != nil {
		t.Fatal(err)
	}
	return tp, tab
}

// topicsAround are topics and filters near topic (a rule's): itself, its
// root, below it, each level swapped for a wildcard, a longer or shorter
// name, %u or %c, and the topic cut short.
func topicsAround(topic string) []string {
	root := strings.TrimSuffix(strings.TrimSuffix(topic, "#"), "/")
	out := []string{topic, root, root + "/", root + "/x", root + "/x/y", root + "/+", root + "/#", root + "/+/z",
		root + "x", root + "x/y", "x" + root}
	levels := strings.Split(root, "/")
	for i, l := range levels {
		for _, sub := range []string{"+", "#", l + "x", l[:max(0, len(l)-1)], "", "%u"} {
			ls := slices.Clone(levels)
			ls[i] = sub
			s := strings.Join(ls, "/")
			out = append(out, s, s+"/x", s+"/#")
		}
		out = append(out, strings.Join(levels[:i], "/"), strings.Join(levels[:i], "/")+"/#")
	}
	return out
}

// namesSwapped is topic with each level that is a device's name swapped
// for every other device's name (of any dialect).
func namesSwapped(topic string, devs []devRef) []string {
	var out []string
	levels := strings.Split(topic, "/")
	for i, l := range levels {
		if !slices.ContainsFunc(devs, func(d devRef) bool { return d.name == l }) {
			continue
		}
		for _, d := range devs {
			ls := slices.Clone(levels)
			ls[i] = d.name
			out = append(out, strings.Join(ls, "/"))
		}
	}
	return out
}

// The compact table answers every check as the account's rule list did,
// for every dialect, with the FullTopic, client id and Zigbee2MQTT base
// in any shape the options allow (a client id or base holding %c or %u
// makes rules patterns).
func TestAccountTable_AgreesWithRuleLists(t *testing.T) {
	for _, o := range []Options{
		{ClientID: "hub1"},
		{ClientID: "hub1", TasmotaFullTopic: "tasmota/%topic%/%prefix%/", Z2MBase: "z2m"},
		{ClientID: "h%cx", TasmotaFullTopic: "a/%prefix%/b/%topic%/c/", Z2MBase: "z/%u"},
	} {
		refs, names := tableDevs()
		tp, tab := testTable(t, o, refs, names)
		accts, err := deriveAccounts(tp, refs, names)
		if err != nil {
			t.Fatal(err)
		}
		if len(tab.accts) != len(accts) {
			t.Fatalf("%d accounts, want %d", len(tab.accts), len(accts))
		}
		seen := map[string]bool{}
		var subjects []string
		var all []Rule
		for _, a := range accts {
			for _, r := range a.Rules {
				all = append(all, r)
				own, _ := r.expand(a.Name, a.Devices[0])
				for _, s := range append(append(topicsAround(r.Topic), topicsAround(own)...), namesSwapped(r.Topic, refs)...) {
					if !seen[s] {
						seen[s] = true
						subjects = append(subjects, s)
					}
				}
			}
		}
		for i, a := range accts {
			if tab.accts[i].name != a.Name || !slices.Equal(tab.devices(i), a.Devices) {
				t.Fatalf("account %d: %q %q, want %q %q", i, tab.accts[i].name, tab.devices(i), a.Name, a.Devices)
			}
			agree(t, o.ClientID, a, subjects, func(acc Access, user, id, topic string) bool {
				return tab.allows(i, acc, user, id, topic)
			})
		}
		ownedRef := ownedOf(all)
		for _, topic := range subjects {
			for _, acc := range []Access{AccessRead, AccessWrite} {
				if got, want := tab.owns(acc, topic), allowed(ownedRef, acc, "", "", topic); got != want {
					t.Errorf("client id %s: owns %s %q = %v, the rule list says %v", o.ClientID, acc, topic, got, want)
				}
			}
		}
	}
}

// agree checks allows against the account's rules for the subjects, as
// the account's own client and as one whose names patterns can not
// expand.
func agree(t *testing.T, clientID string, a Account, subjects []string, allows func(acc Access, user, id, topic string) bool) {
	t.Helper()
	users := [][2]string{{a.Name, a.Devices[0]}, {"a/b", ""}}
	for _, topic := range subjects {
		for _, acc := range []Access{AccessRead, AccessWrite} {
			for _, u := range users {
				if got, want := allows(acc, u[0], u[1], topic), allowed(a.Rules, acc, u[0], u[1], topic); got != want {
					t.Errorf("client id %s, account %s, client %q/%q: %s %q = %v, the rule list says %v",
						clientID, a.Name, u[0], u[1], acc, topic, got, want)
				}
			}
		}
	}
}

// The subjects reach both answers of each kind of check: a test that
// only ever saw refusals would prove little.
func TestAccountTable_ChecksGrantAndRefuse(t *testing.T) {
	refs, names := tableDevs()
	_, tab := testTable(t, Options{ClientID: "hub1"}, refs, names)
	idx := func(name string) int {
		i, ok := tab.find(name)
		if !ok {
			t.Fatalf("no account %s", name)
		}
		return i
	}
	for _, c := range []struct {
		account string
		acc     Access
		topic   string
		want    bool
	}{
		{"dev1", AccessWrite, "tele/dev1/STATE", true},
		{"dev1", AccessWrite, "tele/dev1x/STATE", false},
		{"dev1x", AccessWrite, "tele/dev1/STATE", false},
		{"dev1", AccessRead, "cmnd/dev1/#", true},
		{"dev1", AccessRead, "cmnd/+/POWER", false},
		{"dev1", AccessRead, "cmnd/tasmotas/POWER", true},
		{"dev1", AccessWrite, "cmnd/dev1/POWER", false},
		{"group", AccessWrite, "tele/dev1/STATE", true}, // g-dev1
		{"group", AccessWrite, "tele/dev1x/STATE", false},
		{"group", AccessWrite, "tele/grp-ga/SENSOR", true},
		{"group", AccessRead, "shellies/grp-gb/relay/0/command", true},
		{"group", AccessWrite, "plus-1/status/switch:0", true},
		{"group", AccessWrite, "shellies/shellyplug-1/relay/0", false},
		{"other", AccessWrite, "stat/lamp/RESULT", true},  // lamp-2, lamp's second relay
		{"odd-u", AccessWrite, "tele/aodd-u/STATE", true}, // %u expanded, as Mosquitto does
		{"odd-u", AccessWrite, "tele/a%u/STATE", false},
		{"plug1", AccessWrite, "shellies/shellyplug-10/relay/0", false},
		{"plus1", AccessWrite, "hubd/hub1/plus-1/rpc", true},
		{"plus1", AccessWrite, "hubd/hub1/plus-1x/rpc", false},
		{"zigbee2mqtt", AccessRead, "zigbee2mqtt/#", true},
		{"zigbee2mqtt", AccessRead, "#", false},
	} {
		if got := tab.allows(idx(c.account), c.acc, c.account, c.account, c.topic); got != c.want {
			t.Errorf("%s %s %q = %v, want %v", c.account, c.acc, c.topic, got, c.want)
		}
	}
	if !tab.owns(AccessWrite, "tele/dev1/STATE") || tab.owns(AccessWrite, "tele/nobody/STATE") || tab.owns(AccessWrite, "tasmota/discovery/x/config") {
		t.Error("owns: a device's own report must be owned, no device's or the shared discovery topic not")
	}
}

// A name the topic holds is looked up in the dialect of the rule: the
// same name in another dialect (here the next one in the index, where a
// group account's lookup lands) grants nothing.
func TestAccountTable_NameOfAnotherDialectGrantsNothing(t *testing.T) {
	var refs []devRef
	for i := range smallAccount + 1 {
		id := "t" + string(rune('0'+i))
		refs = append(refs, devRef{id, DialectTasmota, id})
	}
	refs = append(refs, devRef{"s", DialectShelly1, "zz"})
	names := map[string]string{}
	for _, r := range refs {
		names[r.id] = "group"
	}
	_, tab := testTable(t, Options{ClientID: "hub1"}, refs, names)
	if !tab.allows(0, AccessWrite, "group", "s", "shellies/zz/relay/0") || !tab.allows(0, AccessWrite, "group", "s", "tele/t8/STATE") {
		t.Fatal("the group's own topics refused")
	}
	if tab.allows(0, AccessWrite, "group", "s", "tele/zz/STATE") || tab.owns(AccessWrite, "tele/zz/STATE") {
		t.Error("a Shelly's name grants its Tasmota topics")
	}
}

// A refusal counter is made at an account's first refusal and forgotten
// with the account; a refusal of an account gone since is not counted.
func TestAccess_RefusalCountersOnlyForRefusedAccounts(t *testing.T) {
	table := func(ids ...string) *aclTable {
		var refs []devRef
		for _, id := range ids {
			refs = append(refs, devRef{id, DialectShelly1, id})
		}
		_, tab := testTable(t, Options{ClientID: "hub1"}, refs, nil)
		return tab
	}
	a := newAccess(nil)
	a.log = slog.New(slog.DiscardHandler)
	a.setTable(table("p1", "p2", "p3"))
	p1 := broker.Client{ID: "p1", Username: "p1"}
	if !a.canPublish(p1, "shellies/p1/relay/0") || len(a.counters) != 0 {
		t.Fatalf("own topic refused, or counters made without a refusal: %d", len(a.counters))
	}
	if a.canPublish(p1, "shellies/p2/relay/0") || a.canSubscribe(p1, "shellies/#") {
		t.Fatal("another device's topic allowed")
	}
	st := a.status()
	if len(a.counters) != 1 || len(st) != 3 || st[0].DeniedPublish != 1 || st[0].DeniedSubscribe != 1 || st[1].DeniedPublish != 0 {
		t.Errorf("counters %d, status %+v", len(a.counters), st)
	}
	a.setTable(table("p1", "p2"))
	if st := a.status(); st[0].Name != "p1" || st[0].DeniedPublish != 1 {
		t.Errorf("p1's refusals lost over a reload: %+v", st)
	}
	a.setTable(table("p2", "p3"))
	a.refused("p1", false) // judged under a table that had it
	if len(a.counters) != 0 {
		t.Errorf("counters of gone accounts kept: %v", a.counters)
	}
	a.setTable(table("p1"))
	if st := a.status(); len(st) != 1 || st[0].DeniedPublish != 0 || st[0].Devices[0] != "p1" {
		t.Errorf("a returning account has old refusals: %+v", st)
	}
}

// A device's check allocates nothing, on its own account or in a group
// (the index), and neither does the commissioning window's owns.
func TestAccountTable_ChecksDoNotAllocate(t *testing.T) {
	refs, names := tableDevs()
	_, tab := testTable(t, Options{ClientID: "hub1"}, refs, names)
	dev1, _ := tab.find("dev1")
	group, _ := tab.find("group")
	allocs := testing.AllocsPerRun(100, func() {
		if !tab.allows(dev1, AccessWrite, "dev1", "dev1", "tele/dev1/STATE") ||
			tab.allows(dev1, AccessWrite, "dev1", "dev1", "tele/dev1x/STATE") ||
			!tab.allows(group, AccessRead, "group", "ga", "cmnd/grp-gd/POWER") ||
			tab.allows(group, AccessRead, "group", "ga", "cmnd/lamp/POWER") ||
			!tab.owns(AccessWrite, "shellies/shellyplug-1/relay/0") {
			t.Fatal("wrong answer")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round of checks", allocs)
	}
}
