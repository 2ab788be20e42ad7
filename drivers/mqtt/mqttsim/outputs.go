package mqttsim

import (
	"strconv"
	"strings"
)

// Devices with several relays: a Tasmota with Relays > 1 speaks POWER1..
// POWERn (one relay says POWER), a Shelly Gen1 with Relays > 1 has
// relay/0..relay/n-1. Relay 1 is state.on, the others state.more.

// relayOn is relay ch's state (1-based). d.mu is held.
func (d *dev) relayOn(ch int) bool {
	if ch <= 1 {
		return d.st.on
	}
	return d.st.more[ch-2]
}

// setRelay switches relay ch (1-based). d.mu is held.
func (d *dev) setRelay(ch int, on bool) {
	if ch <= 1 {
		d.st.on = on
		return
	}
	d.st.more[ch-2] = on
}

// OnChannel reports whether relay ch (1-based) of a multi-relay device is
// on; channel 1 is On.
func (s *Sim) OnChannel(name string, ch int) bool {
	d, err := s.dev(name)
	if err != nil || ch < 1 || ch > 1+len(d.st.more) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.relayOn(ch)
}

// tasmotaPower is the key of relay ch in the device's reports: POWER on
// a one-relay device, POWER<ch> on a multi-relay one.
func (d *dev) tasmotaPower(ch int) string {
	if len(d.st.more) == 0 {
		return "POWER"
	}
	return "POWER" + strconv.Itoa(ch)
}

// tasmotaRelay reads a POWER<n> command name: the relay it switches.
// POWER is POWER1.
func (d *dev) tasmotaRelay(name string) (int, bool) {
	rest, ok := strings.CutPrefix(strings.ToUpper(name), "POWER")
	if !ok {
		return 0, false
	}
	if rest == "" {
		return 1, true
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 1 && n <= 1+len(d.st.more)
}

// tasmotaSwitch runs POWER<ch> arg as Tasmota does: an empty arg asks,
// ON/OFF/TOGGLE/BLINK (or 1/0/2/3) act; the new state goes to
// stat/<t>/POWER<ch> and a RESULT.
func (d *dev) tasmotaSwitch(ch int, arg string, reply func(keys ...string)) {
	key := d.tasmotaPower(ch)
	if arg != "" {
		d.cmds.Add(1)
		d.mu.Lock()
		switch strings.ToUpper(arg) {
		case "ON", "1":
			d.setRelay(ch, true)
		case "OFF", "0":
			d.setRelay(ch, false)
		case "TOGGLE", "2":
			d.setRelay(ch, !d.relayOn(ch))
		case "BLINK", "3":
			d.st.blinks++
		}
		on := d.relayOn(ch)
		d.mu.Unlock()
		d.pub(d.tasmota("stat")+key, onOff(on, "ON", "OFF"), false)
	}
	reply(key)
}

// shelly1Relay is the relay index of a shellies/<id>/relay/<n>/command
// topic, or -1 for the device's own command topic.
func shelly1Relay(topic string) int {
	i := strings.Index(topic, "/relay/")
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSuffix(topic[i+len("/relay/"):], "/command"))
	if err != nil {
		return -1
	}
	return n
}
