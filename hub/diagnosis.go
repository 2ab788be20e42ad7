package hub

import (
	"errors"
	"strconv"
	"time"
)

// CauseCode names a diagnosis: why the hub thinks a device does not work,
// as exactly as its driver could tell. The status page turns a code and
// its Params into words and a next step, in the technician's language, so
// codes are stable identifiers, never shown as they are.
type CauseCode string

const (
	// CauseOffline: the driver said the device is offline and knew no more.
	CauseOffline CauseCode = "offline"
	// CauseNoReply: a serial device did not answer its polls.
	// Params: bus, address.
	CauseNoReply CauseCode = "no_reply"
	// CauseCRC: corrupt frames came back from a serial device (noise on
	// the line, a bad termination, two devices at one address).
	// Params: bus, address, count (corrupt frames so far).
	CauseCRC CauseCode = "crc_errors"
	// CausePortGone: the serial port of the device's bus is not open (an
	// unplugged USB adapter, a port that cannot be opened).
	// Params: bus, port.
	CausePortGone CauseCode = "port_gone"
	// CauseBrokerDown: the hub lost its MQTT broker, so it cannot hear
	// any MQTT device. Params: broker.
	CauseBrokerDown CauseCode = "broker_down"
	// CauseWill: the broker delivered the device's own offline message
	// (its MQTT will, or Zigbee2MQTT's availability): the device lost
	// power or its network.
	CauseWill CauseCode = "will"
	// CauseStale: nothing was heard from the device for a while, though
	// no one said it is offline. Params: for (seconds).
	CauseStale CauseCode = "stale"
	// CauseRefused: the device answered a command with an error.
	// Params: error (what the device said).
	CauseRefused CauseCode = "refused"

	// The status page words two more, which it derives rather than the
	// hub: CauseNeverSeen, a device not heard from since the daemon
	// started; CauseNoAnswer, an MQTT device still silent after its
	// broker came back (its fault says broker_down, the broker is up).
	CauseNeverSeen CauseCode = "never_seen"
	CauseNoAnswer  CauseCode = "no_answer"
)

// Severity of a Fault.
type Severity string

const (
	// SeverityError: the device is unreachable.
	SeverityError Severity = "error"
	// SeverityWarn: the device answers, but something about it failed.
	SeverityWarn Severity = "warn"
)

// Cause is a diagnosis and the values that fill it in. Raw is the error
// text behind it, kept for support, not for the page's main text.
type Cause struct {
	Code   CauseCode         `json:"code"`
	Params map[string]string `json:"params,omitempty"`
	Raw    string            `json:"raw,omitempty"`
}

// Fault is a device's current problem and since when it has it. A Fault
// is never changed once made, so snapshots may share it.
type Fault struct {
	Cause
	Severity Severity  `json:"severity"`
	Since    time.Time `json:"since"`
}

// Link is how well a device hears the hub, where the device or its bus
// tells. Nil and zero fields were never reported.
type Link struct {
	// RSSI is the Wi-Fi signal in dBm (Tasmota, Shelly).
	RSSI *int `json:"rssi_dbm,omitempty"`
	// LQI is Zigbee's link quality, 0..255 (Zigbee2MQTT's linkquality).
	LQI *int `json:"lqi,omitempty"`
	// Timeouts counts exchanges at this serial address that got no reply.
	Timeouts uint64 `json:"timeouts,omitempty"`
	// CRCErrors counts corrupt frames heard while this serial address was
	// being polled.
	CRCErrors uint64 `json:"crc_errors,omitempty"`
}

// merge copies what o reports over l.
func (l *Link) merge(o *Link) {
	if o.RSSI != nil {
		l.RSSI = o.RSSI
	}
	if o.LQI != nil {
		l.LQI = o.LQI
	}
	if o.Timeouts != 0 {
		l.Timeouts = o.Timeouts
	}
	if o.CRCErrors != 0 {
		l.CRCErrors = o.CRCErrors
	}
}

// Refusal is a device's own answer refusing a command. Drivers return it
// (it unwraps to the hub error that classifies it, such as ErrBusy) so
// that the hub can show what the device said.
type Refusal struct {
	Reason string // the device's words, e.g. "busy" or "value out of range"
	Err    error  // ErrBusy, ErrInvalidValue, ErrNotSupported, or nil
}

func (r *Refusal) Error() string {
	if r.Err != nil {
		return r.Err.Error() + ": device refused: " + r.Reason
	}
	return "hub: device refused: " + r.Reason
}

func (r *Refusal) Unwrap() error { return r.Err }

// newFault makes a fault from c, keeping the start time of old when the
// device already had a fault of the same severity.
func newFault(c Cause, sev Severity, old *Fault, at time.Time) *Fault {
	since := at
	if old != nil && old.Severity == sev {
		since = old.Since
		if old.Code == c.Code && sameParams(old.Params, c.Params) && old.Raw == c.Raw {
			return old
		}
	}
	return &Fault{Cause: c, Severity: sev, Since: since}
}

func sameParams(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// diagnose updates e's fault from a report; the caller holds h.mu. It
// reports whether the fault changed.
func diagnose(e *entry, r *Report, at time.Time, online bool) bool {
	old := e.snap.Fault
	switch {
	case !online:
		c := Cause{Code: CauseOffline}
		if r.Cause != nil {
			c = *r.Cause
		} else if old != nil && old.Severity == SeverityError {
			return false // a bare "offline" adds nothing to what is known
		}
		e.snap.Fault = newFault(c, SeverityError, old, at)
	case r.Cause != nil:
		e.snap.Fault = newFault(*r.Cause, SeverityWarn, old, at)
	case old == nil:
	case old.Severity == SeverityError:
		e.snap.Fault = nil // the device is back
	case old.Code != CauseRefused:
		e.snap.Fault = nil // the driver no longer reports the warning
	}
	return e.snap.Fault != old
}

// commandFault notes the outcome of a command on device id: a refusal
// becomes the device's warning, a success clears one.
func (h *Hub) commandFault(id string, err error) {
	var ref *Refusal
	refused := errors.As(err, &ref)
	if err != nil && !refused {
		return
	}
	h.mu.Lock()
	e, ok := h.devs[id]
	if !ok {
		h.mu.Unlock()
		return
	}
	old := e.snap.Fault
	switch {
	case refused && (old == nil || old.Severity == SeverityWarn):
		e.snap.Fault = newFault(Cause{Code: CauseRefused, Params: map[string]string{"error": ref.Reason}, Raw: err.Error()}, SeverityWarn, old, h.opts.Now())
	case !refused && old != nil && old.Code == CauseRefused:
		e.snap.Fault = nil
	}
	if e.snap.Fault == old {
		h.mu.Unlock()
		return
	}
	e.snap.Seq++
	snap := e.snap
	h.mu.Unlock()
	h.publish(Change{Kind: ChangeFault, Device: id, Snapshot: snap})
}

// secs formats d as whole seconds, the unit of duration Params.
func secs(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

// logOnline records a device going offline (with its diagnosis) or
// coming back.
func (h *Hub) logOnline(source, device string, snap *Snapshot) {
	if snap.Online && snap.Fault == nil {
		h.LogEvent(Event{Level: "info", Source: source, Device: device, Text: "device is online", Code: "device_online"})
		return
	}
	ev := Event{Level: "warn", Source: source, Device: device, Text: "device went offline", Code: "device_offline"}
	if f := snap.Fault; f != nil && f.Severity == SeverityError {
		ev.Params = map[string]string{"cause": string(f.Code)}
		for k, v := range f.Params {
			ev.Params[k] = v
		}
		ev.Raw = f.Raw
		ev.Text += ": " + string(f.Code)
	}
	h.LogEvent(ev)
}
