package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
	"hubd/hub/web"
)

var (
	// errNoMQTTAccount is returned for a name that is neither a device
	// nor a device account of the config (nor, to delete, a stored one).
	errNoMQTTAccount = errors.New("mqtt-account: no such device or account")
	// errMQTTAccountExists is returned by create for an account that has a
	// password already (rotate replaces it).
	errMQTTAccountExists = errors.New("mqtt-account: the account has a password already (use rotate)")
	// errMQTTAccountNoPassword is returned by rotate for an account without
	// a password (create makes one).
	errMQTTAccountNoPassword = errors.New("mqtt-account: the account has no password yet (use create)")
)

// mqttAccountInfo is one account as `hubd mqtt-account` shows it.
type mqttAccountInfo struct {
	Name    string    `json:"name"`
	Devices []string  `json:"devices"` // none: stored, but no device uses it
	HasPass bool      `json:"has_password"`
	Changed time.Time `json:"changed,omitzero"`
	// Password (create and rotate only) is shown this once; Hash is the
	// stored hash in mosquitto_passwd's form, for an external broker.
	Password string `json:"password,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// accountAdmin runs the account operations on credentials, for the
// accounts the config's devices use (accounts is called every time, so a
// reloaded config counts).
type accountAdmin struct {
	creds    *mqttCredentials
	accounts func() ([]mqtt.Account, error)
}

// resolve finds the account arg names: an account, or a device using one.
func (a accountAdmin) resolve(arg string) (mqtt.Account, error) {
	accts, err := a.accounts()
	if err != nil {
		return mqtt.Account{}, err
	}
	for _, ac := range accts {
		if ac.Name == arg {
			return ac, nil
		}
	}
	for _, ac := range accts {
		if slices.Contains(ac.Devices, arg) {
			return ac, nil
		}
	}
	return mqtt.Account{}, fmt.Errorf("%w: %q (the config's MQTT devices and their mqtt_account)", errNoMQTTAccount, arg)
}

// setPassword gives the account arg names a new random password; create
// wants none there, rotate one.
func (a accountAdmin) setPassword(arg string, rotate bool) (mqttAccountInfo, error) {
	ac, err := a.resolve(arg)
	if err != nil {
		return mqttAccountInfo{}, err
	}
	_, has := a.creds.get(ac.Name)
	switch {
	case has && !rotate:
		return mqttAccountInfo{}, fmt.Errorf("%w: %s", errMQTTAccountExists, ac.Name)
	case !has && rotate:
		return mqttAccountInfo{}, fmt.Errorf("%w: %s", errMQTTAccountNoPassword, ac.Name)
	}
	pw, err := newMQTTPassword()
	if err != nil {
		return mqttAccountInfo{}, err
	}
	h, err := hashMQTTPassword(pw)
	if err != nil {
		return mqttAccountInfo{}, err
	}
	cr := mqttCredential{Hash: h, Changed: time.Now().UTC().Truncate(time.Second)}
	if err := a.creds.put(ac.Name, cr, rotate); err != nil {
		return mqttAccountInfo{}, err
	}
	return mqttAccountInfo{Name: ac.Name, Devices: ac.Devices, HasPass: true, Changed: cr.Changed, Password: pw, Hash: h}, nil
}

// remove deletes the password of the account arg names (or of a stored
// account no device uses any more).
func (a accountAdmin) remove(arg string) (mqttAccountInfo, error) {
	name := arg
	if ac, err := a.resolve(arg); err == nil {
		name = ac.Name
	}
	if _, ok := a.creds.get(name); !ok {
		return mqttAccountInfo{}, fmt.Errorf("%w: %q has no password", errNoMQTTAccount, arg)
	}
	if err := a.creds.remove(name); err != nil {
		return mqttAccountInfo{}, err
	}
	return mqttAccountInfo{Name: name}, nil
}

// list is every account the config's devices use and every stored one.
func (a accountAdmin) list() ([]mqttAccountInfo, error) {
	accts, err := a.accounts()
	if err != nil {
		return nil, err
	}
	var out []mqttAccountInfo
	seen := map[string]bool{}
	for _, ac := range accts {
		cr, has := a.creds.get(ac.Name)
		out = append(out, mqttAccountInfo{Name: ac.Name, Devices: ac.Devices, HasPass: has, Changed: cr.Changed, Hash: cr.Hash})
		seen[ac.Name] = true
	}
	for _, n := range a.creds.names() {
		if !seen[n] {
			cr, _ := a.creds.get(n)
			out = append(out, mqttAccountInfo{Name: n, HasPass: true, Changed: cr.Changed, Hash: cr.Hash})
		}
	}
	slices.SortFunc(out, func(x, y mqttAccountInfo) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// openMQTTCredentials loads the device accounts' passwords from the
// store; damaged entries are logged and left out. What must also go to
// the hub's event log (it is made later) is returned as hubMsg.
func (m *Main) openMQTTCredentials() (hubMsg string, err error) {
	creds, bad, revoked, err := loadMQTTCredentials(m.DB.Bucket(mqttAccountsBucket), m.Ledger)
	if err != nil {
		return "", err
	}
	if len(bad) > 0 {
		m.Log.Error("MQTT device accounts with a damaged stored password cannot log in until `hubd mqtt-account create` makes a new one", "accounts", bad)
	}
	if len(revoked) > 0 {
		msg := fmt.Sprintf("MQTT device accounts %s: the store holds a password that was rotated or deleted since (an older copy of hubd.db was put back); they cannot log in until `hubd mqtt-account create` makes a new one", strings.Join(revoked, ", "))
		m.Log.Error(msg)
		hubMsg = msg
	}
	m.mqttCreds = creds
	return hubMsg, nil
}

// demoDeviceLogins gives every device account of the demo a new password
// and returns the emulated devices' logins: each on its own account, as
// on a real site, and the hub's for a device no account covers.
func (m *Main) demoDeviceLogins() (func(mqttsim.Spec) (string, string), error) {
	c := m.config()
	adm := accountAdmin{creds: m.mqttCreds, accounts: c.mqttAccounts}
	accts, err := c.mqttAccounts()
	if err != nil {
		return nil, err
	}
	logins := map[string][2]string{}
	for _, a := range accts {
		_, has := m.mqttCreds.get(a.Name)
		info, err := adm.setPassword(a.Name, has)
		if err != nil {
			return nil, err
		}
		for _, id := range a.Devices {
			logins[id] = [2]string{a.Name, info.Password}
		}
	}
	return func(s mqttsim.Spec) (string, string) {
		if l, ok := logins[s.ID]; ok {
			return l[0], l[1]
		}
		return c.MQTT.Username, c.MQTT.Password
	}, nil
}

// mqttWebOptions gives the status page and /metrics the embedded broker's
// accounts and figures.
func (m *Main) mqttWebOptions(o *web.Options) {
	o.SetMQTTPassword = m.webSetMQTTPassword
	if m.config().MQTT.Broker != "" {
		return
	}
	o.Commissioning = webCommissioning{m}
	o.MQTTAccounts = m.mqttAccountsView
	o.MQTTBroker = func() web.MQTTBroker {
		st, _ := m.MQTT.BrokerStats()
		return web.MQTTBroker{
			Clients: st.Clients, Connections: st.Connections, Pending: st.Pending, QueuedBytes: st.QueuedBytes,
			DroppedQueueLen: st.Dropped, DroppedQueueBytes: st.DroppedBytes, DroppedMemory: st.DroppedMemory,
			ClosedMaxConnections: st.ConnectionsRefused, ClosedMaxPending: st.PendingClosed, ClosedSlow: st.SlowClients, Refused: st.Refused,
		}
	}
}

// webSetMQTTPassword is web.Options.SetMQTTPassword: the status page's
// create and rotate, for a signed-in technician.
func (m *Main) webSetMQTTPassword(name string, rotate bool) (web.MQTTPassword, error) {
	info, err := accountAdmin{creds: m.mqttCreds, accounts: m.config().mqttAccounts}.setPassword(name, rotate)
	switch {
	case errors.Is(err, errNoMQTTAccount):
		return web.MQTTPassword{}, fmt.Errorf("%w: %w", hub.ErrNotFound, err)
	case errors.Is(err, errMQTTAccountExists), errors.Is(err, errMQTTAccountNoPassword):
		return web.MQTTPassword{}, fmt.Errorf("%w: %w", hub.ErrInvalidValue, err)
	case err != nil:
		return web.MQTTPassword{}, err
	}
	if rotate && m.MQTT != nil {
		m.MQTT.DisconnectAccount(info.Name)
	}
	return web.MQTTPassword{Account: info.Name, Devices: info.Devices, Password: info.Password, PasswordFileLine: info.Name + ":" + info.Hash}, nil
}

// mqttAccountsView is the status page's and /metrics' view of the
// embedded broker's accounts, each with whether it has a password (the
// web package exports only those refused at least once to /metrics).
func (m *Main) mqttAccountsView() []web.MQTTAccount {
	var out []web.MQTTAccount
	for _, a := range m.MQTT.Accounts() {
		has := false
		if m.mqttCreds != nil {
			_, has = m.mqttCreds.get(a.Name)
		}
		out = append(out, web.MQTTAccount{Name: a.Name, Devices: a.Devices, HasPassword: has, DeniedPublish: a.DeniedPublish, DeniedSubscribe: a.DeniedSubscribe})
	}
	return out
}
