package mqtt

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"hubd/hub"
)

// idleDriver is a driver that is not run: what receive routes stays in
// the devices' queues.
func idleDriver(t *testing.T, o Options, devs ...hub.Device) *Driver {
	t.Helper()
	o.Broker, o.ClientID, o.Devices = "tcp://127.0.0.1:1", "hubd-test", devs
	o.Apply = func(hub.Report) error { return nil }
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func output(id, addr string) hub.Device {
	return hub.Device{ID: id, Kind: hub.KindSocket, Driver: DriverName, Address: addr, Fields: hub.Fields(hub.FieldOn, hub.FieldPower)}
}

// heardBy is, for each device of d that has messages queued, their kinds
// in order; the queues are emptied.
func heardBy(d *Driver) map[string]string {
	got := map[string]string{}
	for _, dv := range d.tab.Load().devs {
		var kinds []string
		for i := range dv.n {
			kinds = append(kinds, dv.q[(dv.head+i)%len(dv.q)].kind)
		}
		if len(kinds) > 0 {
			got[dv.id] = strings.Join(kinds, ",")
		}
		clear(dv.q)
		dv.head, dv.n = 0, 0
	}
	return got
}

// heard is a topic and who hears it at which kind (device id: kind).
type heard struct {
	topic string
	want  map[string]string
}

// checkHeard has d receive a message on topic and checks who queued it
// at which kind.
func checkHeard(t *testing.T, d *Driver, topic string, want map[string]string) {
	t.Helper()
	d.receive(topic, []byte("{}"), false)
	if got := heardBy(d); !maps.Equal(got, want) {
		t.Errorf("%s heard by %v, want %v", topic, got, want)
	}
}

// The outputs of a Gen1 device share shellies/<id>/: each hears its own
// relay's topics and not another's, all hear the device's, and only the
// first output a dimmer's light.
func TestRoots_Shelly1_EachOutputHearsItsOwnRelay(t *testing.T) {
	// The 4Pro's outputs listed out of order: the root's first is relay 3.
	d := idleDriver(t, Options{}, output("pro-3", "shelly:pro4:3"), output("pro-0", "shelly:pro4"),
		output("pro-1", "shelly:pro4:1"), output("plug", "shelly:plug"))
	for _, tc := range []heard{
		{"shellies/pro4/relay/0", map[string]string{"pro-0": shellyRelay}},
		{"shellies/pro4/relay/1/power", map[string]string{"pro-1": shellyPower}},
		{"shellies/pro4/relay/3/energy", map[string]string{"pro-3": shellyEnergy}},
		{"shellies/pro4/relay/2", map[string]string{}}, // no output of relay 2
		{"shellies/pro4/relay/2/power", map[string]string{}},
		{"shellies/pro4/light/0/status", map[string]string{"pro-0": shellyLight}},
		{"shellies/pro4/online", map[string]string{"pro-0": shellyOnline, "pro-1": shellyOnline, "pro-3": shellyOnline}},
		{"shellies/pro4/info", map[string]string{"pro-0": shellyInfo, "pro-1": shellyInfo, "pro-3": shellyInfo}},
		{"shellies/plug/relay/0/power", map[string]string{"plug": shellyPower}},
		{"shellies/plug/relay/1/power", map[string]string{}},
		{"shellies/plug/announce", map[string]string{"plug": shellyAnnounce}},
	} {
		checkHeard(t, d, tc.topic, tc.want)
	}
}

// What a Gen1 device's root holds besides its outputs' topics, and what
// only looks like it, is routed to nobody and not counted as received.
func TestRoots_Shelly1_OtherTopicsAreDropped(t *testing.T) {
	d := idleDriver(t, Options{}, output("sw-0", "shelly:sw25"), output("sw-1", "shelly:sw25:1"))
	for _, topic := range []string{
		"shellies/sw25/relay/0/command", "shellies/sw25/relay/1/command", "shellies/sw25/command",
		"shellies/sw25/relay/00", "shellies/sw25/relay/01/power", "shellies/sw25/relay/+1", "shellies/sw25/relay/",
		"shellies/sw25/relay/1/", "shellies/sw25/relay/1/power/x", "shellies/sw25/relay/1/powe", "shellies/sw25/relay",
		"shellies/sw25/light/1/status", "shellies/sw25/onlinex", "shellies/sw25/", "shellies/sw25//online",
		"shellies/sw25x/relay/0", "shellies/sw2/relay/0", "shellies/sw25", "shellies//relay/0",
		"shellies/sw25/x/online", "xshellies/sw25/relay/0", "shellies/relay/0", "sw25/relay/0",
	} {
		d.receive(topic, []byte("1"), false)
		if got := heardBy(d); len(got) != 0 {
			t.Errorf("%s heard by %v, want nobody", topic, got)
		}
	}
	if n := d.msgsIn.Load(); n != 0 {
		t.Errorf("%d messages counted in, want 0", n)
	}
	// The marker: the device's own topic right after is heard.
	d.receive("shellies/sw25/relay/1", []byte("on"), false)
	if got := heardBy(d); !maps.Equal(got, map[string]string{"sw-1": shellyRelay}) {
		t.Errorf("relay/1 heard by %v", got)
	}
}

// The components of a Gen2 device share its prefix: each hears its own
// status, all hear the device's events and availability; a Zigbee2MQTT
// device hears its availability. Nothing else below them is routed.
func TestRoots_Shelly2AndZ2M_EachHearsItsOwn(t *testing.T) {
	d := idleDriver(t, Options{}, output("sw-1", "shelly2:pro3:switch:1"), output("sw-0", "shelly2:pro3"),
		output("cct", "shelly2:pro3:cct:0"), output("lamp", "z2m:hall/lamp"), output("hall", "z2m:hall"))
	all := func(kind string) map[string]string {
		return map[string]string{"sw-0": kind, "sw-1": kind, "cct": kind}
	}
	for _, tc := range []heard{
		{"pro3/status/switch:0", map[string]string{"sw-0": kindS2Status}},
		{"pro3/status/switch:1", map[string]string{"sw-1": kindS2Status}},
		{"pro3/status/cct:0", map[string]string{"cct": kindS2Status}},
		{"pro3/online", all(kindS2Online)},
		{"pro3/events/rpc", all(kindS2Event)},
		{"zigbee2mqtt/hall/lamp", map[string]string{"lamp": kindZ2MState}},
		{"zigbee2mqtt/hall/lamp/availability", map[string]string{"lamp": kindZ2MAvail}},
		{"zigbee2mqtt/hall/availability", map[string]string{"hall": kindZ2MAvail}},
	} {
		checkHeard(t, d, tc.topic, tc.want)
	}
	d.receive("zigbee2mqtt/bridge/devices", []byte("{}"), false)
	if dv := d.bridgeDev; dv.n != 1 || dv.q[dv.head].kind != kindZ2MBridge {
		t.Errorf("the bridge's devices not the hub's (%d queued)", dv.n)
	}
	d.bridgeDev.n, d.bridgeDev.head = 0, 0
	in := d.msgsIn.Load()
	for _, topic := range []string{
		"pro3/status/switch:2", "pro3/status/", "pro3/status", "pro3/status/switch:0/x", "pro3/events/rpcx", "pro3/events",
		"pro3/onlinex", "pro3/online/x", "pro3x/online", "pro/online", "x/pro3/online", "pro3", "pro3/",
		"zigbee2mqtt/hall/lamp/availability/x", "zigbee2mqtt/hall/lampavailability", "zigbee2mqtt/hall/lam/availability",
		"zigbee2mqtt/bridge/devices/availability", "zigbee2mqtt/availability", "zigbee2mqtt/hall/x/availability",
		"hall/lamp/availability", "/availability", "availability",
	} {
		d.receive(topic, []byte("{}"), false)
		if got := heardBy(d); len(got) != 0 || d.bridgeDev.n != 0 {
			t.Errorf("%s heard by %v (bridge %d), want nobody", topic, got, d.bridgeDev.n)
		}
	}
	if n := d.msgsIn.Load() - in; n != 0 {
		t.Errorf("%d of the topics no route takes counted in", n)
	}
}

// Routing by root builds nothing per message.
func TestRoots_Receive_AllocatesNothing(t *testing.T) {
	d := idleDriver(t, Options{QueueLen: 4}, output("sw-0", "shelly:sw25"), output("sw-1", "shelly:sw25:1"),
		output("z", "z2m:hall/lamp"), output("s2", "shelly2:plus"))
	p := []byte("1")
	for _, topic := range []string{"shellies/sw25/relay/1/power", "shellies/sw25/online", "shellies/sw25/relay/1/x",
		"shellies/sw25x/relay/1", "zigbee2mqtt/hall/lamp/availability", "plus/status/switch:0", "tele/x/STATE"} {
		for range 8 { // fill the queues to their bound first
			d.receive(topic, p, false)
		}
		if n := testing.AllocsPerRun(100, func() { d.receive(topic, p, false) }); n != 0 {
			t.Errorf("%s: %v allocations a message", topic, n)
		}
	}
}

// shelly1OldKinds is the list the driver routed each Gen1 output's topics
// by, one exact route each, before roots.
var shelly1OldKinds = []string{shellyRelay, shellyPower, shellyEnergy, shellyOnline, shellyLight, shellyAnnounce, shellyInfo}

// exactTopics is every exact topic the devices of t take and who takes
// it at which kind ("id=kind", sorted), as one exact route each.
func exactTopics(d *Driver, t *table) map[string][]string {
	out := map[string][]string{}
	add := func(topic, id, kind string) { out[topic] = append(out[topic], id+"="+kind) }
	for _, dv := range t.devs {
		switch dv.dialect {
		case DialectZ2M:
			add(dv.base, dv.id, kindZ2MState)
			add(dv.base+"/availability", dv.id, kindZ2MAvail)
			add(d.opts.Z2MBase+"/"+z2mBridgeDevices, "", kindZ2MBridge)
		case DialectShelly1:
			for _, k := range shelly1OldKinds {
				if k != shellyLight || dv.ch == 0 {
					add(dv.base+shelly1Topic(k, dv.ch), dv.id, k)
				}
			}
		case DialectShelly2:
			add(dv.name+"/status/"+dv.comp, dv.id, kindS2Status)
			add(dv.name+"/events/rpc", dv.id, kindS2Event)
			add(dv.name+"/online", dv.id, kindS2Online)
		}
	}
	for topic, h := range out {
		out[topic] = slices.Compact(slices.Sorted(slices.Values(h)))
	}
	return out
}

// wantFilters is every subscription of t: each exact topic, each Tasmota
// base with "+", the Gen2 replies.
func wantFilters(d *Driver, t *table) []string {
	want := slices.Collect(maps.Keys(exactTopics(d, t)))
	want = append(want, t.replies)
	for _, dv := range t.devs {
		if dv.dialect == DialectTasmota {
			want = append(want, d.ft.Topic("stat", dv.name)+"+", d.ft.Topic("tele", dv.name)+"+")
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(want)))
}

// mixedOutputs is devices of every dialect with devices of several
// outputs, some listed out of order.
func mixedOutputs() []hub.Device {
	devs := mixedDevices(60)
	for _, a := range []string{"shelly:sw25:1", "shelly:sw25", "shelly:pro4:3", "shelly:pro4", "shelly:pro4:2",
		"shelly2:pro3:switch:2", "shelly2:pro3", "shelly2:rgbw:rgbw:0", "tasmota:strip:3", "tasmota:strip"} {
		devs = append(devs, output("out-"+strings.NewReplacer(":", "-", "/", "-").Replace(a), a))
	}
	return devs
}

// The table's subscriptions are each topic that an exact route per topic
// would have (a Gen1 device's seven, a Zigbee2MQTT device's two, a Gen2
// device's three), and each of those topics reaches exactly the outputs
// and the kinds it did.
func TestTable_RoutesAndFiltersAsOneRoutePerTopic(t *testing.T) {
	devs := mixedOutputs()
	d := idleDriver(t, Options{}, devs...)
	tab := d.tab.Load()
	want := wantFilters(d, tab)
	if got := slices.Sorted(tab.filters()); !slices.Equal(got, want) {
		t.Errorf("filters:\n%v\nwant\n%v", got, want)
	}
	for topic, wantHeard := range exactTopics(d, tab) {
		r, kind, ok := tab.lookup(topic)
		if !ok {
			t.Errorf("%s: no route", topic)
			continue
		}
		var heard []string
		for _, dv := range append([]*device{r.d}, r.others()...) {
			heard = append(heard, dv.id+"="+kind)
		}
		if slices.Sort(heard); !slices.Equal(heard, wantHeard) {
			t.Errorf("%s heard by %v, want %v", topic, heard, wantHeard)
		}
	}

	// A new table subscribes what the old lacks, and the old one's
	// surplus is unsubscribed.
	next := append(devs[len(devs)/2:], output("new-sw", "shelly:newsw:1"), output("new-s2", "shelly2:new2"), output("new-z", "z2m:new/lamp"))
	p, err := d.build(next, tab)
	if err != nil {
		t.Fatal(err)
	}
	wantNew := wantFilters(d, p.t)
	added := slices.DeleteFunc(slices.Clone(wantNew), func(f string) bool { return slices.Contains(want, f) })
	removed := slices.DeleteFunc(slices.Clone(want), func(f string) bool { return slices.Contains(wantNew, f) })
	if got := slices.Sorted(p.t.added(tab)); !slices.Equal(got, added) {
		t.Errorf("added %v, want %v", got, added)
	}
	if got := slices.Sorted(tab.added(p.t)); !slices.Equal(got, removed) {
		t.Errorf("removed %v, want %v", got, removed)
	}
	if len(added) == 0 || len(removed) == 0 {
		t.Fatalf("the tables differ by nothing (%d added, %d removed)", len(added), len(removed))
	}
}

// A topic two routes would take is refused as it was with one route per
// topic, whichever device comes first: two outputs of one relay, another
// device's topic below a Gen1 root, the hub's own; a topic below a root
// that none of its outputs takes is free.
func TestRoots_Conflicts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		base  string // Z2MBase
		devs  []hub.Device
		topic string
	}{
		{"one relay twice", "", []hub.Device{output("a", "shelly:sw"), output("b", "shelly:sw:1"), output("c", "shelly:sw:1")}, "shellies/sw/relay/1"},
		{"z2m below a Gen1 root", "shellies", []hub.Device{output("a", "shelly:sw"), output("z", "z2m:sw/online")}, "shellies/sw/online"},
		{"Gen1 root over z2m", "shellies", []hub.Device{output("z", "z2m:sw/relay/1/power"), output("a", "shelly:sw:1")}, "shellies/sw/relay/1/power"},
		{"one component twice", "", []hub.Device{output("a", "shelly2:pro:switch:1"), output("b", "shelly2:pro:switch:1")}, "pro/status/switch:1"},
		{"z2m availability of another's state", "", []hub.Device{output("a", "z2m:hall"), output("b", "z2m:hall/availability")}, "zigbee2mqtt/hall/availability"},
		{"z2m state of another's availability", "", []hub.Device{output("b", "z2m:hall/availability"), output("a", "z2m:hall")}, "zigbee2mqtt/hall/availability"},
		{"z2m state of a Gen2 topic", "pro", []hub.Device{output("a", "shelly2:pro"), output("z", "z2m:events/rpc")}, "pro/events/rpc"},
		{"Gen2 topic of a z2m state", "pro", []hub.Device{output("z", "z2m:status/switch:3"), output("a", "shelly2:pro:switch:3")}, "pro/status/switch:3"},
		{"z2m availability of a Gen2 topic", "x", []hub.Device{output("a", "shelly2:x"), output("z", "z2m:online")}, "x/online"},
		{"z2m of the hub's own", "", []hub.Device{output("a", "shelly:sw"), output("l", "z2m:lamp"), output("z", "z2m:bridge/devices")}, "zigbee2mqtt/bridge/devices"},
		{"z2m of the hub's own, first", "", []hub.Device{output("z", "z2m:bridge/devices"), output("l", "z2m:lamp")}, "zigbee2mqtt/bridge/devices"},
		{"z2m of the hub's own, alone", "", []hub.Device{output("z", "z2m:bridge/devices")}, "zigbee2mqtt/bridge/devices"},
		{"z2m below a Gen1 root, no kind of it", "shellies", []hub.Device{output("a", "shelly:sw:1"), output("z", "z2m:sw/relay/0")}, ""},
	} {
		d := idleDriver(t, Options{Z2MBase: tc.base})
		err := d.SetDevices(tc.devs)
		if tc.topic == "" {
			if err != nil {
				t.Fatalf("%s: %v, want no conflict", tc.name, err)
			}
			// Below the root, what its output does not take is the other's.
			checkHeard(t, d, "shellies/sw/relay/0", map[string]string{"z": kindZ2MState})
			checkHeard(t, d, "shellies/sw/relay/0/availability", map[string]string{"z": kindZ2MAvail})
			checkHeard(t, d, "shellies/sw/relay/1", map[string]string{"a": shellyRelay})
			continue
		}
		if !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.topic)) {
			t.Errorf("%s: %v, want a conflict on %s", tc.name, err, tc.topic)
		}
		if n := len(d.tab.Load().devs); n != 0 {
			t.Errorf("%s: the table changed (%d devices)", tc.name, n)
		}
	}
}
