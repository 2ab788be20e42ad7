package mqtt

import (
	"crypto/subtle"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"hubd/drivers/mqtt/broker"
)

// access is the embedded broker's access control. It admits the hub's
// account, the device accounts (passwords checked by
// Options.CheckPassword), the shared accounts of Options.Users and (only
// on a loopback broker without accounts) anonymous clients.
//
// The hub may do anything. A device account may publish and subscribe
// only where its devices' derived rules say (see Accounts): its own
// reports, its own commands. A shared account (a Users entry no device
// account is named like) keeps the rules from before device accounts:
// anything but publishing under hubd/ (beyond Shelly Gen2 RPC replies).
// Nobody but the hub may take the hub's client id. A refused publish is
// dropped and counted for its account; a refused subscribe gets SUBACK
// 0x80.
type access struct {
	hubUser, hubPass []byte
	hubID            string
	users            map[string]string
	anon             bool
	reserved         string
	checkPassword    func(account string, password []byte) bool
	log              *slog.Logger
	lim              limiter

	tab atomic.Pointer[aclTable]
	// counters outlive table rebuilds for accounts that stay.
	cmu      sync.Mutex
	counters map[string]*denials
}

// aclTable is the accounts in force; replaced whole by setAccounts.
type aclTable struct {
	accts map[string]*acctEntry
}

type acctEntry struct {
	Account
	rules *ruleSet
	n     *denials
}

type denials struct {
	publish, subscribe atomic.Uint64
}

// AccountStatus is a device account and how often the broker refused it.
type AccountStatus struct {
	Name    string
	Devices []string
	// DeniedPublish counts publishes (and wills) outside the account's
	// rules, dropped; DeniedSubscribe subscribes refused with 0x80.
	DeniedPublish, DeniedSubscribe uint64
}

// newAccess builds the access control of the shared accounts users.
func newAccess(users map[string]string) *access {
	a := &access{users: users, counters: map[string]*denials{}}
	a.tab.Store(&aclTable{accts: map[string]*acctEntry{}})
	return a
}

// setAccounts puts accts in force at once for every connected client.
func (a *access) setAccounts(accts []Account) {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	t := &aclTable{accts: make(map[string]*acctEntry, len(accts))}
	counters := make(map[string]*denials, len(accts))
	for _, ac := range accts {
		n := a.counters[ac.Name]
		if n == nil {
			n = &denials{}
		}
		counters[ac.Name] = n
		t.accts[ac.Name] = &acctEntry{Account: ac, rules: newRuleSet(ac.Rules), n: n}
	}
	a.counters = counters
	a.tab.Store(t)
}

// status lists the accounts in force, by name.
func (a *access) status() []AccountStatus {
	t := a.tab.Load()
	out := make([]AccountStatus, 0, len(t.accts))
	for _, e := range t.accts {
		out = append(out, AccountStatus{Name: e.Name, Devices: e.Devices, DeniedPublish: e.n.publish.Load(), DeniedSubscribe: e.n.subscribe.Load()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (a *access) authenticate(c broker.Client, pass []byte) bool {
	if a.anon {
		return true
	}
	user := []byte(c.Username)
	if len(a.hubUser) > 0 && eq(user, a.hubUser) && eq(pass, a.hubPass) {
		return true
	}
	if c.ID == a.hubID || len(user) == 0 {
		return false // only the hub's account may take the hub's client id
	}
	if want, ok := a.users[c.Username]; ok {
		return eq(pass, []byte(want))
	}
	// A device account is let in only while a device uses it.
	_, used := a.tab.Load().accts[c.Username]
	return used && a.checkPassword != nil && a.checkPassword(c.Username, pass)
}

// rulesOf is what a device account may do and the counters its refusals
// go to; shared is true for a client under the rules from before device
// accounts (a shared account, or anyone on an anonymous broker).
func (a *access) rulesOf(c broker.Client) (rules *ruleSet, n *denials, shared bool) {
	if a.anon {
		return nil, nil, true
	}
	if e := a.tab.Load().accts[c.Username]; e != nil {
		return e.rules, e.n, false
	}
	_, shared = a.users[c.Username]
	return nil, nil, shared
}

func (a *access) canPublish(c broker.Client, topic string) bool {
	if a.isHub(c) {
		return true
	}
	rules, n, shared := a.rulesOf(c)
	if shared {
		// Shelly Gen2 devices answer RPCs on hubd/<id>/rpc.
		return !strings.HasPrefix(topic, a.reserved) || strings.HasSuffix(topic, "/rpc")
	}
	if rules.allows(AccessWrite, c.Username, c.ID, topic) {
		return true
	}
	if n != nil {
		n.publish.Add(1)
	}
	a.lim.log(a.log, "publish outside the account's ACL dropped", "account", c.Username, "client", c.ID, "topic", topic)
	return false
}

func (a *access) canSubscribe(c broker.Client, filter string) bool {
	if a.isHub(c) {
		return true
	}
	rules, n, shared := a.rulesOf(c)
	if shared || rules.allows(AccessRead, c.Username, c.ID, filter) {
		return true
	}
	if n != nil {
		n.subscribe.Add(1)
	}
	a.lim.log(a.log, "subscribe outside the account's ACL refused", "account", c.Username, "client", c.ID, "filter", filter)
	return false
}

func (a *access) isHub(c broker.Client) bool {
	if a.anon {
		return c.ID == a.hubID
	}
	return len(a.hubUser) > 0 && c.Username == string(a.hubUser)
}

func eq(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
