package mqtt

import (
	"fmt"
	"maps"
	"os"
	"sort"
	"strings"

	"hubd/hub"
)

// DefaultZ2MAccount is the account of a Zigbee2MQTT device that names
// none: the bridge's, as one bridge process speaks for all of them.
const DefaultZ2MAccount = "zigbee2mqtt"

// tasmotaGroupTopic is Tasmota's factory GroupTopic: every device also
// listens to its cmnd topic.
const tasmotaGroupTopic = "tasmotas"

// Account is a device account of the embedded broker and what its
// devices may do, derived from their dialects and topics.
type Account struct {
	Name    string
	Devices []string // ids, in the order configured
	Rules   []Rule
}

// DefaultAccount is the account a device uses when the configuration names
// none: its id, or DefaultZ2MAccount for a Zigbee2MQTT device. Outputs of
// one device (Tasmota relays, Shelly relays and components: addresses
// that differ only in their channel or component) share one login, so
// each of them that names none takes the account of the first of them in
// the configuration (see Accounts); DefaultAccount is that of a device
// alone.
func DefaultAccount(dev hub.Device) string {
	dialect, _, _ := ParseAddress(dev.Address)
	return defaultAccount(dev.ID, dialect)
}

func defaultAccount(id, dialect string) string {
	if dialect == DialectZ2M {
		return DefaultZ2MAccount
	}
	return id
}

// devRef is what the derivation needs of a device.
type devRef struct{ id, dialect, name string }

// CheckAccountName says whether name can be an account: 1..64 bytes, no
// space, control character, ':' (the password file's separator) or MQTT
// wildcard.
func CheckAccountName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: account name %q: want 1..64 bytes", ErrBadOptions, name)
	}
	if name == CommissioningAccount {
		return fmt.Errorf("%w: account name %q is reserved for commissioning windows", ErrBadOptions, name)
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || r == ':' || r == '+' || r == '#' || r == '/' {
			return fmt.Errorf("%w: account name %q: no spaces, ':', '/', '+' or '#'", ErrBadOptions, name)
		}
	}
	return nil
}

// topics is what the derivation needs of the driver's options.
type topics struct {
	ft      FullTopic
	z2mBase string
	rpc     string // Shelly Gen2 devices answer the hub's RPCs under rpc/<prefix>/rpc
	avail   string // the hub's availability
	disc    string // discovery's own client id and RPC reply address (<disc>/rpc)
}

func topicsOf(o Options) (topics, error) {
	ft, err := ParseFullTopic(o.TasmotaFullTopic)
	if err != nil {
		return topics{}, err
	}
	base := strings.TrimSuffix(o.Z2MBase, "/")
	if base == "" {
		base = DefaultZ2MBase
	}
	if strings.ContainsAny(base, "+#") {
		return topics{}, fmt.Errorf("%w: Zigbee2MQTT base %q contains a wildcard", ErrBadOptions, base)
	}
	id := o.ClientID
	if id == "" {
		id = defaultClientID()
	}
	return topics{ft: ft, z2mBase: base, rpc: "hubd/" + id, avail: "hubd/" + id + "/availability", disc: id + "-discovery"}, nil
}

func defaultClientID() string {
	host, _ := os.Hostname()
	return "hubd-" + host
}

// rules derives what a device of dialect called name may do. A device
// writes its own reports and reads its own commands; only the hub writes
// commands to others. Zigbee2MQTT's bridge owns its whole base topic, and
// a Shelly its own shellies/<id>/ tree.
func (t topics) rules(dialect, name string) []Rule {
	switch dialect {
	case DialectTasmota:
		return []Rule{
			{AccessWrite, t.ft.Topic("tele", name) + "#"},
			{AccessWrite, t.ft.Topic("stat", name) + "#"},
			{AccessRead, t.ft.Topic("cmnd", name) + "#"},
			{AccessRead, t.ft.Topic("cmnd", tasmotaGroupTopic) + "#"},
			// Tasmota's native discovery is keyed by the device's MAC,
			// which the configuration does not know. A device may so
			// announce capabilities for another one; capabilities given
			// in the configuration are pinned against that (README).
			{AccessWrite, tasmotaDiscoveryPrefix + "+/config"},
			{AccessWrite, tasmotaDiscoveryPrefix + "+/sensors"},
		}
	case DialectZ2M:
		return []Rule{{AccessRead | AccessWrite, t.z2mBase + "/#"}}
	case DialectShelly1:
		return []Rule{
			{AccessRead | AccessWrite, "shellies/" + name + "/#"},
			{AccessWrite, "shellies/announce"},
			{AccessRead, "shellies/command"},
		}
	case DialectShelly2:
		return []Rule{
			{AccessWrite, name + "/online"},
			{AccessWrite, name + "/status/#"},
			{AccessWrite, name + "/events/#"},
			{AccessRead, name + "/rpc"},
			{AccessRead, name + "/command/#"},
			{AccessWrite, t.rpc + "/" + name + "/rpc"},
		}
	}
	return nil
}

// assignAccounts names the account of each of n devices (ref(i) is the
// i-th, in configuration order): the one names gives its id, else that
// of the first output of its device topic, else its DefaultAccount.
func assignAccounts(n int, ref func(i int) devRef, names map[string]string) ([]string, error) {
	out := make([]string, n)
	// shared is the account of the first output of each device topic.
	shared := map[[2]string]string{}
	for i := range out {
		dev := ref(i)
		key := [2]string{dev.dialect, dev.name}
		first, seen := shared[key]
		an := names[dev.id]
		if an == "" {
			an = first
		}
		if an == "" {
			an = defaultAccount(dev.id, dev.dialect)
		}
		if !seen {
			shared[key] = an
		}
		if err := CheckAccountName(an); err != nil {
			return nil, fmt.Errorf("device %s: %w", dev.id, err)
		}
		out[i] = an
	}
	return out, nil
}

// deriveAccounts groups devs (those of this driver) by account and
// derives each account's rules, without duplicates. Accounts are sorted
// by name.
func deriveAccounts(t topics, devs []devRef, names map[string]string) ([]Account, error) {
	an, err := assignAccounts(len(devs), func(i int) devRef { return devs[i] }, names)
	if err != nil {
		return nil, err
	}
	byName := map[string]*Account{}
	for i, dev := range devs {
		a := byName[an[i]]
		if a == nil {
			a = &Account{Name: an[i]}
			byName[an[i]] = a
		}
		a.Devices = append(a.Devices, dev.id)
		for _, r := range t.rules(dev.dialect, dev.name) {
			if !hasRule(a.Rules, r) {
				a.Rules = append(a.Rules, r)
			}
		}
	}
	out := make([]Account, 0, len(byName))
	for _, a := range byName {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func hasRule(rs []Rule, r Rule) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// Accounts derives the device accounts of o.Devices and their ACLs, as the
// embedded broker enforces them (o.DeviceAccounts names accounts; the
// rest take DefaultAccount). An external broker can be given the same
// rules (see `hubd mosquitto-acl`).
func Accounts(o Options) ([]Account, error) {
	t, err := topicsOf(o)
	if err != nil {
		return nil, err
	}
	var devs []devRef
	for _, dev := range o.Devices {
		if dev.Driver != DriverName {
			continue
		}
		a, err := SplitAddress(dev.Address)
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", dev.ID, err)
		}
		devs = append(devs, devRef{dev.ID, a.Dialect, a.Topic})
	}
	return deriveAccounts(t, devs, o.DeviceAccounts)
}

// SetDeviceAccounts replaces Options.DeviceAccounts while the driver runs
// (a config reload): the accounts and their rules change at once for
// every client; the clients of an account that no device uses any more
// are disconnected.
func (d *Driver) SetDeviceAccounts(names map[string]string) error {
	d.subMu.Lock()
	defer d.subMu.Unlock()
	accts, err := d.topics.accountTable(d.tab.Load().devs, names)
	if err != nil {
		return err
	}
	names = maps.Clone(names)
	d.names.Store(&names)
	if d.embedded() {
		d.putAccounts(accts)
	}
	return nil
}

// putAccounts puts accts in force. An account no device uses any more
// can not log in: its clients are disconnected and its kept sessions
// dropped (they hold subscriptions granted to it, and their client ids).
func (d *Driver) putAccounts(accts *aclTable) {
	before := d.acl.tab.Load()
	d.acl.setTable(accts)
	gone := map[string]bool{}
	var names []string
	for _, e := range before.accts {
		if _, kept := accts.find(e.name); !kept {
			gone[e.name] = true
			names = append(names, e.name)
		}
	}
	if len(names) == 0 {
		return
	}
	// One pass over the broker's sessions for all of them: a reload may
	// remove many devices at once.
	d.disconnectUsers(func(user string) bool { return gone[user] }, names)
}

// Accounts lists the device accounts in force and their refusals, by
// name; none with an external broker, which keeps its own.
func (d *Driver) Accounts() []AccountStatus {
	if d.broker == nil {
		return nil
	}
	return d.acl.status()
}
