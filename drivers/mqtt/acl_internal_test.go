package mqtt

import (
	"fmt"
	"slices"
	"testing"

	"hubd/drivers/mqtt/broker"
	"hubd/hub"
)

func TestCovers_Table(t *testing.T) {
	for _, c := range []struct {
		filter, sub string
		want        bool
	}{
		{"tele/lamp/#", "tele/lamp/STATE", true},
		{"tele/lamp/#", "tele/lamp", true}, // "a/#" matches "a"
		{"tele/lamp/#", "tele/lamp/#", true},
		{"tele/lamp/#", "tele/lamp/+/x", true},
		{"tele/lamp/#", "tele/lamp2/STATE", false},
		{"tele/lamp/#", "tele/+/STATE", false},
		{"tele/lamp/#", "tele/#", false},
		{"tele/lamp/#", "#", false},
		{"tele/+/STATE", "tele/lamp/STATE", true},
		{"tele/+/STATE", "tele/+/STATE", true},
		{"tele/+/STATE", "tele/#", false},
		{"tele/+/STATE", "tele/lamp/STATE/x", false},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/b", "a", false},
		{"a/b", "a/+", false},
		{"#", "anything/at/all", true},
		{"+", "a", true},
		{"+", "a/b", false},
	} {
		if got := covers(c.filter, c.sub); got != c.want {
			t.Errorf("covers(%q, %q) = %v, want %v", c.filter, c.sub, got, c.want)
		}
	}
}

func TestRule_Expand_SubstitutesAndRefusesWideningNames(t *testing.T) {
	r := Rule{AccessWrite, "tele/%u/%c/#"}
	if got, ok := r.expand("plug", "dev1"); !ok || got != "tele/plug/dev1/#" {
		t.Errorf("expand = %q, %v", got, ok)
	}
	for _, user := range []string{"", "a/b", "+", "#"} {
		if got, ok := r.expand(user, "dev1"); ok {
			t.Errorf("user %q expanded to %q, want refused", user, got)
		}
	}
	if s := r.String(); s != "pattern write tele/%u/%c/#" {
		t.Errorf("String = %q", s)
	}
	if s := (Rule{AccessRead | AccessWrite, "z/#"}).String(); s != "topic readwrite z/#" {
		t.Errorf("String = %q", s)
	}
	// A pattern rule grants a client only its own topics.
	rules := []Rule{{AccessWrite, "tele/%u/#"}}
	if !allowed(rules, AccessWrite, "plug", "x", "tele/plug/STATE") || allowed(rules, AccessWrite, "plug", "x", "tele/lamp/STATE") {
		t.Error("pattern rule does not follow the username")
	}
	if allowed(rules, AccessRead, "plug", "x", "tele/plug/STATE") {
		t.Error("write rule grants read")
	}
}

// A large (indexed) rule set answers exactly as the list scan does.
func TestRuleSet_IndexAgreesWithScan(t *testing.T) {
	var rules []Rule
	for i := range 40 {
		rules = append(rules,
			Rule{AccessWrite, fmt.Sprintf("tele/d%d/#", i)},
			Rule{AccessRead, fmt.Sprintf("cmnd/d%d/#", i)},
			Rule{AccessWrite, fmt.Sprintf("d%d/online", i)})
	}
	rules = append(rules, Rule{AccessRead, "x/+/y"}, Rule{AccessWrite, "own/%u/#"})
	big := newRuleSet(rules)
	if big.exact == nil {
		t.Fatal("a set of 122 rules is not indexed")
	}
	topics := []string{"tele/d3/STATE", "tele/d3", "tele/d39/a/b", "tele/d40/STATE", "cmnd/d7/POWER", "cmnd/d7/#",
		"cmnd/+/POWER", "#", "tele/#", "d5/online", "d5/online/x", "d5", "x/a/y", "x/+/y", "x/#", "own/u/z", "own/v/z", ""}
	for _, topic := range topics {
		for _, acc := range []Access{AccessRead, AccessWrite} {
			want := allowed(rules, acc, "u", "c", topic)
			if got := big.allows(acc, "u", "c", topic); got != want {
				t.Errorf("%s %q: index says %v, scan %v", acc, topic, got, want)
			}
		}
	}
	var none *ruleSet
	if none.allows(AccessRead, "u", "c", "a") {
		t.Error("nil set allows")
	}
}

func TestDeriveAccounts_PerDialect(t *testing.T) {
	ft, err := ParseFullTopic("tasmota/%topic%/%prefix%/")
	if err != nil {
		t.Fatal(err)
	}
	tp := topics{ft: ft, z2mBase: "z2m", rpc: "hubd/hub1"}
	devs := []devRef{
		{"lamp", DialectTasmota, "lamp-t"},
		{"plug1", DialectShelly1, "shellyplug-1"},
		{"plug2", DialectShelly2, "shellyplus-2"},
		{"bulb-a", DialectZ2M, "hall/a"},
		{"bulb-b", DialectZ2M, "hall/b"},
		{"grp-1", DialectTasmota, "g1"},
		{"grp-2", DialectTasmota, "g2"},
	}
	accts, err := deriveAccounts(tp, devs, map[string]string{"grp-1": "group", "grp-2": "group"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, a := range accts {
		for _, r := range a.Rules {
			got[a.Name] = append(got[a.Name], r.String())
		}
		got[a.Name+" devices"] = a.Devices
	}
	want := map[string][]string{
		"lamp":  {"topic write tasmota/lamp-t/tele/#", "topic write tasmota/lamp-t/stat/#", "topic read tasmota/lamp-t/cmnd/#", "topic read tasmota/tasmotas/cmnd/#", "topic write tasmota/discovery/+/config", "topic write tasmota/discovery/+/sensors"},
		"plug1": {"topic readwrite shellies/shellyplug-1/#", "topic write shellies/announce", "topic read shellies/command"},
		"plug2": {"topic write shellyplus-2/online", "topic write shellyplus-2/status/#", "topic write shellyplus-2/events/#",
			"topic read shellyplus-2/rpc", "topic read shellyplus-2/command/#", "topic write hubd/hub1/shellyplus-2/rpc"},
		"zigbee2mqtt": {"topic readwrite z2m/#"},
		"group": {"topic write tasmota/g1/tele/#", "topic write tasmota/g1/stat/#", "topic read tasmota/g1/cmnd/#", "topic read tasmota/tasmotas/cmnd/#", "topic write tasmota/discovery/+/config", "topic write tasmota/discovery/+/sensors",
			"topic write tasmota/g2/tele/#", "topic write tasmota/g2/stat/#", "topic read tasmota/g2/cmnd/#"},
		"lamp devices": {"lamp"}, "plug1 devices": {"plug1"}, "plug2 devices": {"plug2"},
		"zigbee2mqtt devices": {"bulb-a", "bulb-b"}, "group devices": {"grp-1", "grp-2"},
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s:\n got %q\nwant %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("accounts %v", got)
	}
	if _, err := deriveAccounts(tp, devs[:1], map[string]string{"lamp": "bad:name"}); err == nil {
		t.Error("an account name with ':' was taken")
	}
}

func TestDefaultAccount_IsIDOrTheBridge(t *testing.T) {
	if a := DefaultAccount(hub.Device{ID: "lamp-2", Address: "tasmota:demo-lamp-2"}); a != "lamp-2" {
		t.Errorf("tasmota: %q", a)
	}
	if a := DefaultAccount(hub.Device{ID: "lamp-3", Address: "z2m:demo-lamp-3"}); a != DefaultZ2MAccount {
		t.Errorf("z2m: %q", a)
	}
	for _, bad := range []string{"", "a b", "a:b", "a/b", "a+", "#", string(make([]byte, 65))} {
		if CheckAccountName(bad) == nil {
			t.Errorf("account name %q accepted", bad)
		}
	}
}

// The remembered logins stay within their bound; a forgotten one is not
// taken for stale.
func TestLogins_Bounded(t *testing.T) {
	var l logins
	for i := range 10 {
		l.put(fmt.Sprint("client-", i), "acct", "v1", 4)
	}
	if len(l.m) != 4 {
		t.Fatalf("%d logins kept, bound 4", len(l.m))
	}
	l.put("client-9", "acct", "v2", 4) // the same client again replaces
	if s, ok := l.get("client-9", "acct"); !ok || s != "v2" || len(l.m) != 4 {
		t.Errorf("client-9: %q %v, %d kept", s, ok, len(l.m))
	}
	if _, ok := l.get("client-9", "other"); ok {
		t.Error("a login is found under another account")
	}
	a := &access{stamp: func(string) string { return "v3" }}
	a.logins.put("known", "acct", "v1", 4)
	if !a.stale(broker.Client{ID: "known", Username: "acct"}) || a.stale(broker.Client{ID: "forgotten", Username: "acct"}) {
		t.Error("stale: a login under an old stamp must be, an unknown one not")
	}
}
