package mqtt

import (
	"fmt"
	"sync"
	"time"

	"hubd/drivers/mqtt/broker"
)

// CommissioningAccount is the user name new devices log in with while a
// technician has a commissioning window open (OpenCommissioning): a device
// that has no account of its own yet can announce itself, so discovery
// finds it and it can be adopted. No device account may be named so.
const CommissioningAccount = "commissioning"

// DefaultCommissioningClients is the default of
// Options.CommissioningClients.
const DefaultCommissioningClients = 32

// CommissioningStatus is the commissioning window as the status page and
// `hubd commission` show it.
type CommissioningStatus struct {
	Open       bool      `json:"open"`
	Until      time.Time `json:"until,omitzero"`
	Clients    int       `json:"clients"`     // logged in under CommissioningAccount now
	MaxClients int       `json:"max_clients"` // Options.CommissioningClients
	// Refused counts logins refused while a window was open because
	// MaxClients were in (the password was right); DeniedPublish and
	// DeniedSubscribe what commissioning clients were refused.
	Refused         uint64 `json:"refused_full"`
	DeniedPublish   uint64 `json:"denied_publish"`
	DeniedSubscribe uint64 `json:"denied_subscribe"`
}

// commissioning is the window's state. A client under CommissioningAccount
// may announce itself and nothing else:
//   - shared: what every device of a family may write or read anyway
//     (Tasmota's discovery topics, shellies/announce, shellies/command);
//   - free: its own will and online topics, its Shelly Gen2 RPCs (under
//     its client id, which is the Gen2 topic prefix by default, and the
//     answers to discovery's questions) and a Zigbee2MQTT bridge's base
//     topic, but only where no device account may write or read
//     (owned), so it can not pose as, or listen to, a device that is
//     configured.
type commissioning struct {
	shared, free *ruleSet
	max          int

	mu      sync.Mutex
	pass    []byte
	until   time.Time
	timer   *time.Timer
	refused uint64
	denied  denials
}

func (w *commissioning) deny(acc Access) {
	if acc == AccessRead {
		w.denied.subscribe.Add(1)
	} else {
		w.denied.publish.Add(1)
	}
}

func newCommissioning(t topics, max int) *commissioning {
	if max <= 0 {
		max = DefaultCommissioningClients
	}
	shared := []Rule{
		{AccessWrite, tasmotaDiscoveryPrefix + "+/config"},
		{AccessWrite, tasmotaDiscoveryPrefix + "+/sensors"},
		{AccessWrite, "shellies/announce"},
		{AccessRead, "shellies/command"},
	}
	free := []Rule{
		{AccessWrite, t.ft.Topic("tele", "+") + "LWT"},
		{AccessWrite, "shellies/+/online"},
		{AccessWrite, "+/online"},
		{AccessWrite, "%c/online"},
		{AccessRead, "%c/rpc"},
		{AccessRead, "shellies/%c/command"}, // a Gen1 device is asked to announce itself there
		{AccessWrite, t.rpc + "/%c/rpc"},
		{AccessWrite, t.disc + "/rpc"}, // answers to discovery's Shelly.GetDeviceInfo
		// A Zigbee2MQTT bridge's base topic, while no Zigbee device is
		// configured (then its account owns all of it).
		{AccessWrite, t.z2mBase + "/#"},
	}
	return &commissioning{shared: newRuleSet(shared), free: newRuleSet(free), max: max}
}

// open reports whether the window is open at now.
func (w *commissioning) openAt(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pass != nil && now.Before(w.until)
}

// admit checks a login under CommissioningAccount; connected counts the
// clients logged in under it now.
func (w *commissioning) admit(pass []byte, connected func() int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pass == nil || !time.Now().Before(w.until) || !eq(pass, w.pass) {
		return false
	}
	if connected() >= w.max {
		w.refused++
		return false
	}
	return true
}

// allows says whether a commissioning client may do acc on topic; owned
// holds what the device accounts may do.
func (w *commissioning) allows(owned *aclTable, acc Access, id, topic string) bool {
	if !w.openAt(time.Now()) {
		return false
	}
	if w.shared.allows(acc, CommissioningAccount, id, topic) {
		return true
	}
	return w.free.allows(acc, CommissioningAccount, id, topic) && !owned.owns(acc, topic)
}

// OpenCommissioning opens the embedded broker to new devices until until,
// with password (at least 16 bytes) for CommissioningAccount. Opening it
// again replaces the password and the end; clients in under the former
// password stay. When it ends (at until, or CloseCommissioning), every
// client still under CommissioningAccount is disconnected. A restart
// closes it.
func (d *Driver) OpenCommissioning(password string, until time.Time) error {
	if d.broker == nil {
		return fmt.Errorf("%w: a commissioning window needs the embedded broker", ErrBadOptions)
	}
	if len(password) < 16 {
		return fmt.Errorf("%w: commissioning password shorter than 16 bytes", ErrBadOptions)
	}
	w := d.acl.com
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.pass, w.until = []byte(password), until
	w.timer = time.AfterFunc(time.Until(until), func() { d.endCommissioning(until) })
	d.log.Info("commissioning window open", "until", until.UTC().Format(time.RFC3339))
	return nil
}

// CloseCommissioning ends the window at once and returns how many clients
// it disconnected.
func (d *Driver) CloseCommissioning() int {
	if d.broker == nil {
		return 0
	}
	w := d.acl.com
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.pass, w.until, w.timer = nil, time.Time{}, nil
	w.mu.Unlock()
	return d.kickCommissioning()
}

// commissionResweep is when the clients are swept out once more after a
// window ended: a login checked just before the end may attach just
// after the first sweep.
const commissionResweep = 2 * time.Second

// endCommissioning closes the window that was to end at until, unless it
// was opened again since.
func (d *Driver) endCommissioning(until time.Time) {
	w := d.acl.com
	w.mu.Lock()
	if !w.until.Equal(until) {
		w.mu.Unlock()
		return
	}
	w.pass, w.until, w.timer = nil, time.Time{}, nil
	w.mu.Unlock()
	n := d.kickCommissioning()
	d.log.Info("commissioning window ended", "disconnected", n)
}

func (d *Driver) kickCommissioning() int {
	is := func(c broker.Client) bool { return c.Username == CommissioningAccount }
	n := d.broker.srv.Disconnect(is)
	d.broker.srv.DropSessions(is)
	time.AfterFunc(commissionResweep, func() {
		if !d.acl.com.openAt(time.Now()) {
			d.broker.srv.Disconnect(is)
			d.broker.srv.DropSessions(is)
		}
	})
	return n
}

// Commissioning describes the window; the zero status with an external
// broker.
func (d *Driver) Commissioning() CommissioningStatus {
	if d.broker == nil {
		return CommissioningStatus{}
	}
	w := d.acl.com
	w.mu.Lock()
	st := CommissioningStatus{Open: w.pass != nil && time.Now().Before(w.until), MaxClients: w.max, Refused: w.refused,
		DeniedPublish: w.denied.publish.Load(), DeniedSubscribe: w.denied.subscribe.Load()}
	if st.Open {
		st.Until = w.until
	}
	w.mu.Unlock()
	st.Clients = d.broker.srv.Count(func(c broker.Client) bool { return c.Username == CommissioningAccount })
	return st
}
