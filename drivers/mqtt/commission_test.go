package mqtt_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt"
	"hubd/hub"
)

const comPass = "a-window-password-of-24b"

// tryLogin connects as user/pass with client id id; nil if refused.
func tryLogin(t *testing.T, url, id, user, pass string, lost chan<- error) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(pass).
		SetConnectTimeout(3 * time.Second).SetAutoReconnect(false).SetProtocolVersion(4)
	if lost != nil {
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return nil
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func subCode(t *testing.T, c paho.Client, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, func(paho.Client, paho.Message) {})
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatalf("subscribe %s: no SUBACK", filter)
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

// Without a window nobody logs in as the commissioning account; with one,
// only with its password.
func TestCommissioning_LoginOnlyWhileOpenWithItsPassword(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[:1]})
	r.waitState(t)
	if c := tryLogin(t, r.url, "new-1", mqtt.CommissioningAccount, comPass, nil); c != nil {
		t.Fatal("commissioning login with no window open")
	}
	if err := r.drv.OpenCommissioning("short", time.Now().Add(time.Minute)); err == nil {
		t.Fatal("a short window password was taken")
	}
	if err := r.drv.OpenCommissioning(comPass, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if c := tryLogin(t, r.url, "new-1", mqtt.CommissioningAccount, "wrong-"+comPass, nil); c != nil {
		t.Fatal("commissioning login with a wrong password")
	}
	if c := tryLogin(t, r.url, "new-1", mqtt.CommissioningAccount, comPass, nil); c == nil {
		t.Fatal("commissioning login refused while open")
	}
	if st := r.drv.Commissioning(); !st.Open || st.Clients != 1 || st.MaxClients != mqtt.DefaultCommissioningClients {
		t.Fatalf("status %+v", st)
	}
}

// A commissioning client announces itself, and can neither pose as a
// configured device, command one, nor listen to one.
func TestCommissioning_AnnounceOnlyNeverAConfiguredDevice(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[:4]}) // lamp-2 (Tasmota), socket-2 (Gen1), z2m, socket-3 (Gen2)
	r.waitState(t)
	if err := r.drv.OpenCommissioning(comPass, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	obs := newObserver(t, r, "tasmota/discovery/#", "tele/#", "cmnd/#", "shellies/#", "+/online", "hubd/#", "zigbee2mqtt/#")
	obs.before(t)
	newcomer := tryLogin(t, r.url, "shellyplus1-new", mqtt.CommissioningAccount, comPass, nil)
	if newcomer == nil {
		t.Fatal("login refused")
	}
	allowed := []string{
		"tasmota/discovery/AABBCCDDEEFF/config",
		"tasmota/discovery/AABBCCDDEEFF/sensors",
		"tele/tasmota_DDEEFF/LWT",
		"shellies/announce",
		"shellies/shelly1-new/online",
		"shellyplus1-new/online",
		"hubd/hubd-test/shellyplus1-new/rpc",
	}
	refused := []string{
		"tele/demo-lamp-2/LWT",   // lamp-2's own will topic
		"tele/demo-lamp-2/STATE", // its state
		"cmnd/demo-lamp-2/POWER", // a command
		"shellyplusplugs-abc/online",
		"hubd/hubd-test/shellyplusplugs-abc/rpc", // socket-3's RPC replies
		"hubd/hubd-test/availability",
		"zigbee2mqtt/bridge/devices", // the bridge has an account: it is owned
	}
	for _, tp := range append(append([]string(nil), allowed...), refused...) {
		publishAcked(t, newcomer, tp, false, "x")
	}
	got := obs.before(t)
	want := map[string]bool{}
	for _, tp := range allowed {
		want[tp+" x"] = true
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("routed but must not be: %q", g)
		}
		delete(want, g)
	}
	for w := range want {
		t.Errorf("allowed publish not routed: %q", w)
	}
	for f, code := range map[string]byte{
		"shellyplus1-new/rpc":     1,
		"shellies/command":        1,
		"shellyplusplugs-abc/rpc": 0x80,
		"cmnd/#":                  0x80,
		"#":                       0x80,
		"cmnd/demo-lamp-2/#":      0x80,
	} {
		if got := subCode(t, newcomer, f); got != code {
			t.Errorf("subscribe %s: %#x, want %#x", f, got, code)
		}
	}
	st := r.drv.Commissioning()
	if st.DeniedPublish != uint64(len(refused)) || st.DeniedSubscribe != 4 {
		t.Errorf("denials %+v, want %d publishes and 4 subscribes", st, len(refused))
	}
}

// The window bounds its clients; closing it, or its end, disconnects them
// and keeps them out.
func TestCommissioning_BoundedAndEndsWithTheWindow(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[:1], comClients: 2})
	r.waitState(t)
	if err := r.drv.OpenCommissioning(comPass, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 4)
	for i := range 2 {
		if tryLogin(t, r.url, fmt.Sprint("new-", i), mqtt.CommissioningAccount, comPass, lost) == nil {
			t.Fatalf("client %d refused", i)
		}
	}
	if tryLogin(t, r.url, "new-2", mqtt.CommissioningAccount, comPass, nil) != nil {
		t.Fatal("a third client got in past max 2")
	}
	if st := r.drv.Commissioning(); st.Refused != 1 || st.Clients != 2 {
		t.Fatalf("status %+v", st)
	}
	if n := r.drv.CloseCommissioning(); n != 2 {
		t.Fatalf("close disconnected %d, want 2", n)
	}
	for range 2 {
		select {
		case <-lost:
		case <-time.After(5 * time.Second):
			t.Fatal("a commissioning client stayed connected after close")
		}
	}
	if tryLogin(t, r.url, "new-0", mqtt.CommissioningAccount, comPass, nil) != nil {
		t.Fatal("login after close")
	}
	// A window that runs out ends the same way.
	if err := r.drv.OpenCommissioning(comPass, time.Now().Add(400*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if tryLogin(t, r.url, "new-3", mqtt.CommissioningAccount, comPass, lost) == nil {
		t.Fatal("login refused in the second window")
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the client stayed connected past the window's end")
	}
	waitFor(t, 5*time.Second, "no commissioning client left", func() bool { return r.drv.Commissioning().Clients == 0 })
	if st := r.drv.Commissioning(); st.Open {
		t.Fatalf("after the end: %+v", st)
	}
}

// A device account's clients are disconnected when its password changes,
// and when no device uses the account any more.
func TestAccounts_DisconnectedWhenRotatedOrUnused(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[1:3]}) // socket-2, the z2m bridge
	r.waitState(t)
	lost := make(chan error, 2)
	if tryLogin(t, r.url, "extra-socket-2", "socket-2", acctPass("socket-2"), lost) == nil {
		t.Fatal("login refused")
	}
	if n := r.drv.DisconnectAccount("socket-2"); n < 1 {
		t.Fatalf("DisconnectAccount ended %d clients", n)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("still connected after DisconnectAccount")
	}
	if tryLogin(t, r.url, "extra-socket-2b", "socket-2", acctPass("socket-2"), lost) == nil {
		t.Fatal("login refused")
	}
	if err := r.drv.SetDeviceAccounts(map[string]string{"socket-2": "plugs"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("a client of an account no device uses stayed connected")
	}
}

func TestCommissioning_AccountNameReserved(t *testing.T) {
	if err := mqtt.CheckAccountName(mqtt.CommissioningAccount); err == nil {
		t.Fatal("a device account may be named like the commissioning account")
	}
}

// A device leaving the commissioning login for its own account takes its
// client id over at once; one device account can not take another's.
func TestCommissioning_OwnAccountTakesTheClientIDOver(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[:2]}) // lamp-2, socket-2
	r.waitState(t)
	if err := r.drv.OpenCommissioning(comPass, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 1)
	if tryLogin(t, r.url, "DVES_ABCDEF", mqtt.CommissioningAccount, comPass, lost) == nil {
		t.Fatal("commissioning login refused")
	}
	if tryLogin(t, r.url, "DVES_ABCDEF", "lamp-2", acctPass("lamp-2"), nil) == nil {
		t.Fatal("the device's own account could not take its id over from the commissioning login")
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the commissioning connection stayed")
	}
	// Now under lamp-2: socket-2's account may not take the id.
	if tryLogin(t, r.url, "DVES_ABCDEF", "socket-2", acctPass("socket-2"), nil) != nil {
		t.Fatal("another device account took the client id")
	}
}

// Nobody but the hub's account logs in with discovery's client id: a
// commissioning client under it could read the answers new Gen2 devices
// give discovery (%c/rpc).
func TestCommissioning_DiscoveryClientIDReserved(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[:1]})
	r.waitState(t)
	if err := r.drv.OpenCommissioning(comPass, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, cr := range [][2]string{{mqtt.CommissioningAccount, comPass}, {"lamp-2", acctPass("lamp-2")}} {
		if tryLogin(t, r.url, "hubd-test-discovery", cr[0], cr[1], nil) != nil {
			t.Errorf("%s logged in with discovery's client id", cr[0])
		}
	}
	if tryLogin(t, r.url, "hubd-test-discovery", hubUser, hubPass, nil) == nil {
		t.Error("the hub's own account refused its discovery client id")
	}
}

// A device removed from the configuration: its account's clients are
// disconnected at the reload, and its kept session no longer holds its
// client id.
func TestAccounts_RemovedDeviceDisconnected(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[:2]}) // lamp-2, socket-2
	r.waitState(t)
	lost := make(chan error, 1)
	if tryLogin(t, r.url, "extra-lamp", "lamp-2", acctPass("lamp-2"), lost) == nil {
		t.Fatal("login refused")
	}
	var keep []hub.Device
	for _, s := range testSpecs()[1:2] {
		keep = append(keep, s.Device())
	}
	if err := r.drv.SetDevices(keep); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the removed device's client stayed connected")
	}
}

// What a commissioning client announces is heard while it is there, but
// not retained: it does not outlive the window.
func TestCommissioning_AnnouncementsNotRetained(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[:1]})
	r.waitState(t)
	if err := r.drv.OpenCommissioning(comPass, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	live := newObserver(t, r, "tasmota/discovery/#")
	live.before(t)
	c := tryLogin(t, r.url, "DVES_0A0B0C", mqtt.CommissioningAccount, comPass, nil)
	if c == nil {
		t.Fatal("login refused")
	}
	publishAcked(t, c, "tasmota/discovery/00000A0B0C0D/config", true, `{"t":"tasmota_0A0B0C"}`)
	if got := live.before(t); len(got) != 1 {
		t.Fatalf("live subscriber got %q, want the announcement", got)
	}
	// A device account's retained message is kept, as before.
	dev := tryLogin(t, r.url, "DVES_LAMP2", "lamp-2", acctPass("lamp-2"), nil)
	publishAcked(t, dev, "tasmota/discovery/00000A0B0C0E/config", true, `{"t":"demo-lamp-2"}`)
	late := newObserver(t, r, "tasmota/discovery/#")
	got := strings.Join(late.before(t), "\n")
	if strings.Contains(got, "00000A0B0C0D") || !strings.Contains(got, "00000A0B0C0E") {
		t.Fatalf("retained after the fact:\n%s\nwant the device account's, not the commissioning client's", got)
	}
}
