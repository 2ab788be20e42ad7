package mqtt

import (
	"crypto/subtle"
	"log/slog"
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
	discID           string // discovery's client id: the hub's too
	users            map[string]string
	anon             bool
	reserved         string
	checkPassword    func(account string, password []byte) bool
	stamp            func(account string) string
	log              *slog.Logger
	lim              limiter

	tab    atomic.Pointer[aclTable]
	logins logins
	// com is the commissioning window (nil: none can be opened); count
	// counts logged-in clients.
	com   *commissioning
	count func(match func(broker.Client) bool) int
	// counters are the refusals of the accounts refused at least once;
	// they outlive table rebuilds for accounts that stay. cmu guards
	// them and orders setTable.
	cmu      sync.Mutex
	counters map[string]*denials
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
	a.tab.Store(&aclTable{})
	return a
}

// setTable puts t in force at once for every connected client. The
// refusals of the accounts that are gone are forgotten.
func (a *access) setTable(t *aclTable) {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	for name := range a.counters {
		if _, kept := t.find(name); !kept {
			delete(a.counters, name)
		}
	}
	a.tab.Store(t)
}

// refused counts a refusal of account's client (subscribe or publish).
// Counters are made at an account's first refusal: most never have one.
// A refusal judged by a table since replaced counts only if the account
// is still in force, as it would have with the counters of that table.
func (a *access) refused(account string, subscribe bool) {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	if _, ok := a.tab.Load().find(account); !ok {
		return
	}
	n := a.counters[account]
	if n == nil {
		n = &denials{}
		a.counters[account] = n
	}
	if subscribe {
		n.subscribe.Add(1)
	} else {
		n.publish.Add(1)
	}
}

// status lists the accounts in force, by name.
func (a *access) status() []AccountStatus {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	t := a.tab.Load()
	out := make([]AccountStatus, len(t.accts))
	for i, e := range t.accts {
		out[i] = AccountStatus{Name: e.name, Devices: t.devices(i)}
		if n := a.counters[e.name]; n != nil {
			out[i].DeniedPublish, out[i].DeniedSubscribe = n.publish.Load(), n.subscribe.Load()
		}
	}
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
	if c.ID == a.hubID || c.ID == a.discID || len(user) == 0 {
		return false // only the hub's account may take the hub's client ids
	}
	if c.Username == CommissioningAccount {
		return a.com != nil && a.count != nil && a.com.admit(pass, func() int {
			return a.count(func(x broker.Client) bool { return x.Username == CommissioningAccount })
		})
	}
	if want, ok := a.users[c.Username]; ok {
		return eq(pass, []byte(want))
	}
	// A device account is let in only while a device uses it.
	t := a.tab.Load()
	if _, used := t.find(c.Username); !used || a.checkPassword == nil {
		return false
	}
	var stamp string
	if a.stamp != nil {
		// Read first: a rotation racing the check leaves the old stamp.
		stamp = a.stamp(c.Username)
	}
	if !a.checkPassword(c.Username, pass) {
		return false
	}
	if a.stamp != nil {
		a.logins.put(c.ID, c.Username, stamp, 2*len(t.accts)+minLogins)
	}
	return true
}

// stale says whether c logged in under a password its account no longer
// has.
func (a *access) stale(c broker.Client) bool {
	if a.stamp == nil {
		return false
	}
	stamp, ok := a.logins.get(c.ID, c.Username)
	return ok && stamp != a.stamp(c.Username)
}

// verdict is a device account's answer on acc: whether c's account
// (the table's account i) grants it on topic. i is -1 for a client of
// no device account, whom nothing is granted; shared is true for a
// client under the rules from before device accounts (a shared account,
// or anyone on an anonymous broker).
type verdict struct {
	t      *aclTable
	i      int
	shared bool
}

func (a *access) rulesOf(c broker.Client) verdict {
	if a.anon {
		return verdict{i: -1, shared: true}
	}
	t := a.tab.Load()
	if i, ok := t.find(c.Username); ok {
		return verdict{t: t, i: i}
	}
	_, shared := a.users[c.Username]
	return verdict{i: -1, shared: shared}
}

func (v verdict) allows(acc Access, c broker.Client, topic string) bool {
	return v.i >= 0 && v.t.allows(v.i, acc, c.Username, c.ID, topic)
}

func (a *access) canPublish(c broker.Client, topic string) bool {
	if a.isHub(c) {
		return true
	}
	if a.commissioner(c) {
		return a.commissioned(c, AccessWrite, topic)
	}
	v := a.rulesOf(c)
	if v.shared {
		// Shelly Gen2 devices answer RPCs on hubd/<id>/rpc.
		return !strings.HasPrefix(topic, a.reserved) || strings.HasSuffix(topic, "/rpc")
	}
	if a.judge(c, v.allows(AccessWrite, c, topic), "publish", "topic", topic) {
		return true
	}
	if v.i >= 0 {
		a.refused(c.Username, false)
	}
	return false
}

func (a *access) canSubscribe(c broker.Client, filter string) bool {
	if a.isHub(c) {
		return true
	}
	if a.commissioner(c) {
		return a.commissioned(c, AccessRead, filter)
	}
	v := a.rulesOf(c)
	if v.shared || a.judge(c, v.allows(AccessRead, c, filter), "subscribe", "filter", filter) {
		return true
	}
	if v.i >= 0 {
		a.refused(c.Username, true)
	}
	return false
}

// judge is a device account's verdict: allowed by its rules and logged in
// under its current password. A refusal is logged (rate-limited).
func (a *access) judge(c broker.Client, allowed bool, what, key, topic string) bool {
	if !allowed {
		a.lim.log(a.log, what+" outside the account's ACL refused", "account", c.Username, "client", c.ID, key, topic)
		return false
	}
	if a.stale(c) {
		a.lim.log(a.log, what+" refused: the account's password changed since this client logged in", "account", c.Username, "client", c.ID, key, topic)
		return false
	}
	return true
}

// mayTakeOver lets a device leave the commissioning login for its own
// account at once: its new connection, under the account adoption gave
// it, takes the client id over from its commissioning one (which may not
// have ended cleanly). So may a device whose account was renamed or
// removed: its id's session belongs to a user that is no account any
// more. Other accounts may not end each other's connections or take
// each other's sessions.
func (a *access) mayTakeOver(old, newcomer broker.Client) bool {
	if newcomer.Username == "" {
		return false
	}
	if old.Username == CommissioningAccount {
		return true
	}
	_, device := a.tab.Load().find(old.Username)
	_, shared := a.users[old.Username]
	return !device && !shared && (len(a.hubUser) == 0 || old.Username != string(a.hubUser))
}

// mayRetain keeps a commissioning client's messages from being retained:
// what it announced is heard while the window is open, and does not
// outlive it (a discovery message naming a configured device would
// otherwise be replayed to discovery at every restart).
func (a *access) mayRetain(c broker.Client, _ string) bool { return !a.commissioner(c) }

// commissioner says whether c is in under CommissioningAccount.
func (a *access) commissioner(c broker.Client) bool {
	return !a.anon && a.com != nil && c.Username == CommissioningAccount
}

// commissioned is the verdict on a commissioning client (see
// commissioning); a refusal is counted and logged (rate-limited).
func (a *access) commissioned(c broker.Client, acc Access, topic string) bool {
	if a.com.allows(a.tab.Load(), acc, c.ID, topic) {
		return true
	}
	what := "publish"
	if acc == AccessRead {
		what = "subscribe"
	}
	a.com.deny(acc)
	a.lim.log(a.log, what+" refused to a commissioning client", "client", c.ID, "topic", topic)
	return false
}

func (a *access) isHub(c broker.Client) bool {
	if a.anon {
		return c.ID == a.hubID
	}
	return len(a.hubUser) > 0 && c.Username == string(a.hubUser)
}

// minLogins is the least number of device logins remembered (see logins).
const minLogins = 1024

// logins remembers the password stamp each device login was made under,
// by client id (a newer connection with the same id replaces the older).
// It holds at most a bound given by the caller, twice the accounts plus
// minLogins: past it an arbitrary entry is forgotten, and that client, if
// still connected, keeps its rights until it logs in again.
type logins struct {
	mu sync.Mutex
	m  map[string]login
}

type login struct{ account, stamp string }

// put is keyed by client id and account: a login refused after its
// password was checked (the id belongs to another account) does not
// replace the entry of the client connected under that id.
func (l *logins) put(id, account, stamp string, bound int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]login{}
	}
	k := id + "\x00" + account
	if _, ok := l.m[k]; !ok && len(l.m) >= bound {
		for k := range l.m {
			delete(l.m, k)
			break
		}
	}
	l.m[k] = login{account, stamp}
}

func (l *logins) get(id, account string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	x, ok := l.m[id+"\x00"+account]
	return x.stamp, ok
}

func eq(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
