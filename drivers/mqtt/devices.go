package mqtt

import (
	"fmt"
	"iter"
	"time"

	"hubd/hub"
)

// table is the device set and the routes built from it. Once published
// in Driver.tab it is never modified: SetDevices builds a new one.
type table struct {
	devs  []*device
	byID  map[string]*device
	byKey map[uint64]*device // Shelly Gen2 devices by key, for RPC replies
	// exact routes a topic as it is: a Zigbee2MQTT device's state (its
	// base string), which takes its availability too, and the bridge's.
	exact map[string]route
	// exactPrefix is the longest prefix every topic in exact has (the
	// Zigbee2MQTT base, as a rule): see exactRoute.
	exactPrefix string
	// roots routes a Shelly device's topics by its root, the base string
	// of its outputs (Gen1 shellies/<id>/, the Gen2 prefix): the route of
	// a topic below it is found by the kinds each output takes.
	roots map[string]route
	bases map[string]route // Tasmota: topic up to the last level
	// See roots.go. Some 13,000 routes with 10,000 devices; one a topic,
	// with a string each for most, were 35,000 and 3.2 MB.
	//
	// The table's subscriptions are derived from its routes (filters):
	// each topic an exact route or a root takes, each base with "+", and
	// the Shelly Gen2 replies. A map of them besides was some 2 MB with
	// 10,000 devices.
	replies string // the Shelly Gen2 replies' filter (see replySrc)
}

// filtersQoS is the QoS of every subscription the driver makes.
const filtersQoS = 1

// filters is every subscription of t.
func (t *table) filters() iter.Seq[string] {
	return func(yield func(string) bool) { t.newFilters(&table{}, yield) }
}

// added is every subscription of t that old lacks.
func (t *table) added(old *table) iter.Seq[string] {
	return func(yield func(string) bool) { t.newFilters(old, yield) }
}

// plan is a validated table and what installing it changes.
type plan struct {
	t        *table
	accounts *aclTable // the device accounts of t's devices
	added    []*device
	fields   map[*device]hub.FieldSet // new capabilities of devices that stay
}

// build checks devs and builds their table. A device of old with the same
// id and address is kept (its queue with it); any other is new. Nothing
// visible changes until install.
func (d *Driver) build(devs []hub.Device, old *table) (plan, error) {
	t := d.newTable()
	p := plan{t: t, fields: map[*device]hub.FieldSet{}}
	for _, hd := range devs {
		if hd.Driver != DriverName {
			continue
		}
		if hd.ID == "" {
			return plan{}, fmt.Errorf("%w: device at %q has no id", ErrBadOptions, hd.Address)
		}
		if _, dup := t.byID[hd.ID]; dup {
			return plan{}, fmt.Errorf("%w: device %q listed twice", ErrBadOptions, hd.ID)
		}
		a, err := SplitAddress(hd.Address)
		if err != nil {
			return plan{}, fmt.Errorf("device %s: %w", hd.ID, err)
		}
		dialect, name := a.Dialect, a.Topic
		dv := old.byID[hd.ID]
		if dv != nil && dv.dialect == dialect && dv.name == name && dv.ch == a.Channel && dv.comp == a.Component {
			if dv.Fields() != hd.Fields {
				p.fields[dv] = hd.Fields
			}
		} else {
			dv = &device{id: hd.ID, dialect: dialect, name: name, base: d.base(dialect, name), ch: a.Channel, comp: a.Component, qmax: d.opts.QueueLen}
			dv.fields.Store(uint32(hd.Fields))
			dv.info = infoHandle(hd.Info)
			dv.infoSent = dv.info
			if bi := d.bridgeInfo.Load(); bi != nil && dialect == DialectZ2M {
				if in, ok := (*bi)[name]; ok {
					dv.mergeInfo(infoOf(in))
				}
			}
			p.added = append(p.added, dv)
		}
		if err := d.route(t, dv); err != nil {
			return plan{}, err
		}
		t.devs = append(t.devs, dv)
		t.byID[hd.ID] = dv
		if dialect == DialectZ2M {
			// Claimed after the device routes, and only with a z2m
			// device: a device of that name conflicts with the hub's,
			// whether it comes before the bridge's claim or after.
			bridge := d.opts.Z2MBase + "/" + z2mBridgeDevices
			hers := route{d: d.bridgeDev, kind: kindZ2MBridge}
			if old, ok := t.exact[bridge]; !ok {
				if err := t.claimExact(bridge, hers); err != nil {
					return plan{}, err
				}
			} else if old.d != d.bridgeDev {
				return plan{}, conflict(old, hers, bridge)
			}
		}
	}
	accts, err := d.topics.accountTable(t.devs, *d.names.Load())
	if err != nil {
		return plan{}, err
	}
	p.accounts = accts
	return p, nil
}

// newTable is an empty table of d.
func (d *Driver) newTable() *table {
	return &table{
		byID:  map[string]*device{},
		byKey: map[uint64]*device{},
		exact: map[string]route{},
		bases: map[string]route{},
		roots: map[string]route{},
		// Shelly Gen2 replies (see replySrc)
		replies: d.src + "/+/rpc",
	}
}

// base is where a device's topics start: the Tasmota cmnd topic, the
// Shelly Gen1 shellies/<id>/, the Zigbee2MQTT <base>/<name>, the Shelly
// Gen2 prefix.
func (d *Driver) base(dialect, name string) string {
	switch dialect {
	case DialectTasmota:
		return d.ft.Topic("cmnd", name)
	case DialectZ2M:
		return d.opts.Z2MBase + "/" + name
	case DialectShelly1:
		return "shellies/" + name + "/"
	}
	return name
}

// route adds dv's topics to t (each is subscribed, see filters). It
// only reads dv, which may be live.
func (d *Driver) route(t *table, dv *device) error {
	switch dv.dialect {
	case DialectTasmota:
		for _, p := range []string{"stat", "tele"} {
			b := d.ft.Topic(p, dv.name)
			if err := claim(t.bases, b, route{d: dv}); err != nil {
				return err
			}
		}
	case DialectZ2M:
		return t.claimZ2M(dv)
	case DialectShelly1, DialectShelly2:
		return t.claimRoot(dv)
	}
	return nil
}

// claim routes topic to r.d. A topic that another output of the same
// device has claimed is shared: both hear it.
func claim(m map[string]route, topic string, r route) error {
	old, ok := m[topic]
	if ok {
		var err error
		if r, err = share(old, r, topic); err != nil {
			return err
		}
	}
	m[topic] = r
	return nil
}

// share is the route of a topic that old has and r claims too: r.d added
// to old when it is another output of the same device, an error when it
// is another device.
func share(old, r route, topic string) (route, error) {
	switch {
	case old.d == r.d:
		return r, nil
	case sibling(old.d, r.d) && (old.d.ch != r.d.ch || old.d.comp != r.d.comp):
		for _, o := range old.others() {
			if o.ch == r.d.ch && o.comp == r.d.comp {
				return route{}, fmt.Errorf("%w: devices %s and %s share topic %q", ErrBadOptions, o.id, r.d.id, topic)
			}
		}
		also := append(append([]*device(nil), old.others()...), r.d)
		old.also = &also
		return old, nil
	}
	return route{}, conflict(old, r, topic)
}

// conflict is the error of r claiming a topic old has, of another device.
func conflict(old, r route, topic string) error {
	switch {
	case old.d.id == "":
		return fmt.Errorf("%w: device %s: topic %q is the hub's own", ErrBadOptions, r.d.id, topic)
	case r.d.id == "":
		return fmt.Errorf("%w: device %s: topic %q is the hub's own", ErrBadOptions, old.d.id, topic)
	default:
		return fmt.Errorf("%w: devices %s and %s share topic %q", ErrBadOptions, old.d.id, r.d.id, topic)
	}
}

// install publishes a plan's table: new devices get their keys, devices
// that stay their new capabilities.
func (d *Driver) install(p plan) {
	for _, dv := range p.added {
		dv.key = d.lastKey.Add(1)
	}
	for _, dv := range p.t.devs {
		if dv.dialect == DialectShelly2 {
			p.t.byKey[dv.key] = dv
		}
	}
	for dv, f := range p.fields {
		dv.fields.Store(uint32(f))
	}
	d.tab.Store(p.t)
	if d.embedded() {
		d.putAccounts(p.accounts)
	}
}

// embedded reports whether the driver runs its own broker, the only one
// whose logins and topics its device accounts rule (an external broker
// keeps its own: see `hubd mosquitto-acl`). Set before New returns.
func (d *Driver) embedded() bool { return d.opts.Broker == "" }

// retire drops a removed device's queued messages and waits until no
// report of it is being applied; none is applied after. Its queued RPC
// replies go to the replies' queue: a command sent before the removal
// still takes its answer instead of waiting it out.
func (d *Driver) retire(dv *device) {
	dv.gone.Store(true)
	dv.mu.Lock()
	var replies []item
	for i := range dv.n {
		if it := dv.q[(dv.head+i)%len(dv.q)]; it.kind == kindReply {
			replies = append(replies, it)
		}
	}
	clear(dv.q)
	dv.head, dv.n = 0, 0
	dv.mu.Unlock()
	for _, it := range replies {
		d.enqueue(dv, it) // gone: to the replies' queue
	}
	dv.busy.Lock()
	// An empty critical section: it waits for the worker holding busy.
	dv.busy.Unlock()
}

// CheckDevices reports whether SetDevices would accept devs, changing
// nothing. A config reload can check every driver before applying any.
func (d *Driver) CheckDevices(devs []hub.Device) error {
	d.subMu.Lock()
	defer d.subMu.Unlock()
	_, err := d.build(devs, d.tab.Load())
	return err
}

// SetDevices replaces the driver's device set while it runs (a config
// reload); devs is the full list, devices of other drivers are ignored.
// It is safe to call at any time, concurrently with Run and Execute. The
// broker connection is kept.
//
// Everything is checked first: on error nothing changes, and the error
// names the device at fault (ErrBadAddress for an address, ErrBadOptions
// for an id listed twice or a topic two devices share).
//
// A device that keeps its id and address keeps its queue; its capabilities
// are updated. New devices are subscribed on the live connection and asked
// for their state. Removed devices are unsubscribed, their queued messages
// dropped, and no report of theirs is applied once SetDevices returns. A
// device whose address changed is removed and added.
//
// If the connection is down, the new set is subscribed when it comes back.
// If subscribing fails on a live connection, the new set is in place but
// an error says so; the next reconnect subscribes it again.
func (d *Driver) SetDevices(devs []hub.Device) error {
	d.subMu.Lock()
	defer d.subMu.Unlock()
	old := d.tab.Load()
	p, err := d.build(devs, old)
	if err != nil {
		return err
	}
	d.install(p)
	for id, dv := range old.byID {
		if p.t.byID[id] != dv {
			d.retire(dv)
		}
	}
	d.log.Info("devices set", "devices", len(p.t.devs), "added", len(p.added))

	c := d.client
	if !c.IsConnectionOpen() {
		return nil // onConnect subscribes the new table
	}
	var unsub []string
	for f := range old.added(p.t) {
		unsub = append(unsub, f)
	}
	if err := d.subscribe(c, p.t.added(old)); err != nil {
		d.fail("subscribe new devices: " + err.Error())
		return fmt.Errorf("mqtt: devices set, but subscribing their topics failed (done again on the next reconnect): %w", err)
	}
	if len(unsub) > 0 {
		// A subscription left behind only brings messages no route takes.
		if t := c.Unsubscribe(unsub...); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			d.fail(fmt.Sprintf("unsubscribe removed devices: %v", t.Error()))
		}
	}
	d.askAll(c, p.added)
	return nil
}
