package mqtt

import (
	"errors"
	"fmt"
	"time"
	"unique"

	"hubd/hub"
)

// bridgeFresh is how lately a Zigbee2MQTT device must have been heard from
// for what the bridge's list says of it to be reported at once; others
// learn it with their next report.
const bridgeFresh = 30 * time.Second

func (d *Driver) handle(dv *device, it item) {
	switch dv {
	case d.rpcDev:
		d.handleReply(it.kind, it.payload)
		return
	case d.bridgeDev:
		d.handleBridge(it.payload)
		return
	}
	if it.kind == kindReply {
		d.handleReply(dv.name, it.payload)
		return
	}
	u, err := decode(dv, it.kind, it.payload)
	if errors.Is(err, ErrIgnored) {
		return
	}
	if err != nil {
		d.badMessage(dv, it.kind, err)
		return
	}
	d.apply(dv, u, !it.retained)
}

// apply reports u; live is false for a retained message the broker kept.
func (d *Driver) apply(dv *device, u update, live bool) {
	r := hub.Report{Device: dv.id, State: u.State, Avail: u.Avail, Info: dv.takeInfo(u.Info), Link: u.Link}
	if u.Avail == hub.AvailOffline {
		// Only the device's will (or Zigbee2MQTT on its behalf) says so.
		r.Cause = &hub.Cause{Code: hub.CauseWill}
	}
	if err := d.report(dv, r); err != nil {
		d.badMessage(dv, "report", err)
		return
	}
	switch u.Avail {
	case hub.AvailOffline:
		dv.online.Store(false)
		return
	case hub.AvailOnline:
		if !dv.online.Swap(true) && live {
			d.cameOnline(dv)
		}
	}
	dv.heard.Store(time.Now().UnixNano())
}

// cameOnline asks a device that just said it is online, live (it connected
// after the hub did, or came back), for its state and what it is: the
// queries sent on connect did not reach it. A retained "online", delivered
// with the subscription, is older than those queries.
func (d *Driver) cameOnline(dv *device) {
	if c := d.client; c != nil && c.IsConnectionOpen() {
		d.ask(c, dv, true, nil)
	}
}

// takeInfo merges what a message said about the device (in, maybe nil)
// into its info, and returns the info for a report if the hub has not
// seen it yet. Info learned elsewhere (Zigbee2MQTT's bridge list) thus
// reaches the hub with the device's own next report: a report with Info
// says the device is alive, which only the device itself can say.
func (dv *device) takeInfo(in *hub.Info) *hub.Info {
	dv.infoMu.Lock()
	defer dv.infoMu.Unlock()
	if in != nil {
		dv.mergeInfo(*in)
	}
	if dv.info == dv.infoSent {
		return nil
	}
	dv.infoSent = dv.info
	out := infoOf(dv.info)
	return &out
}

// learnInfo merges in into the device's info without reporting it.
func (dv *device) learnInfo(in hub.Info) {
	dv.infoMu.Lock()
	dv.mergeInfo(in)
	dv.infoMu.Unlock()
}

// mergeInfo merges in into dv.info. dv.infoMu is held.
func (dv *device) mergeInfo(in hub.Info) {
	i := infoOf(dv.info)
	mergeInfo(&i, in)
	dv.info = infoHandle(i)
}

// infoHandle is the handle of i; the empty Info's is the zero handle, so
// that equal Infos always have equal handles.
func infoHandle(i hub.Info) unique.Handle[hub.Info] {
	if i == (hub.Info{}) {
		return unique.Handle[hub.Info]{}
	}
	return unique.Make(i)
}

// infoOf is the Info of handle h (see infoHandle).
func infoOf(h unique.Handle[hub.Info]) hub.Info {
	if h == (unique.Handle[hub.Info]{}) {
		return hub.Info{}
	}
	return h.Value()
}

// handleBridge takes Zigbee2MQTT's list of devices: each of ours in it
// learns what it is.
func (d *Driver) handleBridge(p []byte) {
	infos, skipped, err := decodeZ2MBridgeDevices(p)
	if err != nil {
		d.badMessage(nil, "z2m "+z2mBridgeDevices, err)
		return
	}
	if skipped > 0 {
		d.lim.log(d.log, "z2m bridge/devices: malformed entries skipped", "skipped", skipped)
	}
	kept := make(map[string]unique.Handle[hub.Info], len(infos))
	for name, in := range infos {
		kept[name] = infoHandle(in)
	}
	d.bridgeInfo.Store(&kept)
	fresh := time.Now().Add(-bridgeFresh).UnixNano()
	for _, dv := range d.tab.Load().devs {
		if dv.dialect != DialectZ2M {
			continue
		}
		in, ok := infos[dv.name]
		if !ok {
			continue
		}
		dv.learnInfo(in)
		// A device heard from a moment ago is alive: tell the hub now
		// rather than at its next report.
		if dv.heard.Load() > fresh {
			if in := dv.takeInfo(nil); in != nil {
				if err := d.report(dv, hub.Report{Device: dv.id, Info: in}); err != nil {
					d.badMessage(dv, "report", err)
				}
			}
		}
	}
}

// report passes r to the hub unless dv was removed.
func (d *Driver) report(dv *device, r hub.Report) error {
	dv.busy.Lock()
	defer dv.busy.Unlock()
	if dv.gone.Load() {
		return nil
	}
	return d.opts.Apply(r)
}

// decode picks the dialect's decoder for a message kind; a device with
// several outputs decodes the part of dv's output.
func decode(dv *device, kind string, p []byte) (update, error) {
	switch dv.dialect {
	case DialectTasmota:
		return decodeTasmota(kind, p, dv.ch)
	case DialectZ2M:
		if kind == kindZ2MAvail {
			return decodeZ2MAvailability(p)
		}
		return decodeZ2MState(p)
	case DialectShelly1:
		return decodeShelly1(kind, p)
	case DialectShelly2:
		switch kind {
		case kindS2Status:
			return decodeShelly2Status(p, dv.comp)
		case kindS2Event:
			return decodeShelly2Event(p, dv.comp)
		case kindS2Online:
			return decodeShelly1(shellyOnline, p)
		}
	}
	return update{}, ErrIgnored
}

func (d *Driver) badMessage(dv *device, where string, err error) {
	d.bad.Add(1)
	id := ""
	if dv != nil {
		id = dv.id
	}
	d.mu.Lock()
	d.lastErr = fmt.Sprintf("%s %s: %v", id, where, err)
	d.mu.Unlock()
	d.lim.log(d.log, "bad message", "device", id, "where", where, "err", err)
}
