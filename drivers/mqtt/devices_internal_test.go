package mqtt

import (
	"fmt"
	"iter"
	"slices"
	"sync"
	"testing"
	"time"

	"hubd/hub"
)

// msg is a received message as paho hands it to the handler.
type msg struct {
	topic   string
	payload []byte
}

func (m msg) Duplicate() bool   { return false }
func (m msg) Qos() byte         { return 1 }
func (m msg) Retained() bool    { return false }
func (m msg) Topic() string     { return m.topic }
func (m msg) MessageID() uint16 { return 1 }
func (m msg) Payload() []byte   { return m.payload }
func (m msg) Ack()              {}

type reports struct {
	mu  sync.Mutex
	got []hub.Report
}

func (r *reports) apply(rep hub.Report) error {
	r.mu.Lock()
	r.got = append(r.got, rep)
	r.mu.Unlock()
	return nil
}

func (r *reports) of(id string) []hub.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []hub.Report
	for _, x := range r.got {
		if x.Device == id {
			out = append(out, x)
		}
	}
	return out
}

func plug(id, name string, fields hub.FieldSet) hub.Device {
	return hub.Device{ID: id, Kind: hub.KindSocket, Driver: DriverName, Address: DialectShelly1 + ":" + name, Fields: fields}
}

// The driver is not run: no worker takes the queues until the test starts
// one, so what SetDevices does to them is seen exactly.
func TestDriver_SetDevices_DropsQueuedMessagesOfRemovedDevice(t *testing.T) {
	var rep reports
	fields := hub.Fields(hub.FieldOn, hub.FieldPower)
	a, b := plug("plug-a", "a", fields), plug("plug-b", "b", fields)
	d, err := New(Options{Broker: "tcp://127.0.0.1:1", ClientID: "hubd-test", Apply: rep.apply, Devices: []hub.Device{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		d.onMessage(nil, msg{"shellies/a/relay/0/power", fmt.Appendf(nil, "%d", 10+i)})
		d.onMessage(nil, msg{"shellies/b/relay/0/power", fmt.Appendf(nil, "%d", 20+i)})
	}
	kept := d.tab.Load().byID["plug-b"]
	gone := d.tab.Load().byID["plug-a"]
	b.Fields = b.Fields.With(hub.FieldEnergy)
	if err := d.SetDevices([]hub.Device{b}); err != nil {
		t.Fatal(err)
	}
	if now := d.tab.Load().byID["plug-b"]; now != kept {
		t.Fatal("the device that stayed was replaced")
	}
	if kept.Fields() != b.Fields {
		t.Errorf("fields of the device that stayed: %v, want %v", kept.Fields(), b.Fields)
	}
	if gone.n != 0 || !gone.gone.Load() {
		t.Errorf("removed device keeps %d queued messages", gone.n)
	}
	// A message for the removed device routed before the swap is dropped.
	d.enqueue(gone, item{kind: shellyPower, payload: []byte("99")})
	d.onMessage(nil, msg{"shellies/a/relay/0/power", []byte("98")})
	d.onMessage(nil, msg{"shellies/b/relay/0/power", []byte("23")})

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); d.work(stop) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := rep.of("plug-b")
		if len(got) > 0 && got[len(got)-1].State.Power == 23 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queued messages of the device that stayed not applied: %+v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	<-done
	if got := rep.of("plug-b"); len(got) != 4 {
		t.Errorf("plug-b: %d reports, want its 4 queued messages", len(got))
	}
	if got := rep.of("plug-a"); len(got) != 0 {
		t.Errorf("removed plug-a reported: %+v", got)
	}
}

func TestDriver_SetDevices_LateRPCReplyOfRemovedDeviceIsNotBad(t *testing.T) {
	var rep reports
	s2 := hub.Device{ID: "s2", Kind: hub.KindSocket, Driver: DriverName, Address: DialectShelly2 + ":plus-1", Fields: hub.Fields(hub.FieldOn)}
	d, err := New(Options{Broker: "tcp://127.0.0.1:1", ClientID: "hubd-test", Apply: rep.apply, Devices: []hub.Device{s2}})
	if err != nil {
		t.Fatal(err)
	}
	old := d.tab.Load().byID["s2"]
	id := d.rpcID(old)
	reply := fmt.Appendf(nil, `{"id":%d,"src":"plus-1","dst":"hubd/hubd-test","result":{"id":0,"output":true}}`, id)
	d.handleReply(old.name, reply)
	if got := rep.of("s2"); len(got) != 1 || !got[0].State.On {
		t.Fatalf("reply not applied: %+v", got)
	}
	// Removed and added again at another prefix: a new key, and replies to
	// the old one are neither applied nor counted as bad.
	s2.Address = DialectShelly2 + ":plus-2"
	if err := d.SetDevices([]hub.Device{s2}); err != nil {
		t.Fatal(err)
	}
	if now := d.tab.Load().byID["s2"]; now == old || now.key == old.key {
		t.Fatal("a moved device kept its key")
	}
	d.handleReply(old.name, reply)
	if got := rep.of("s2"); len(got) != 1 {
		t.Errorf("late reply applied: %+v", got)
	}
	if n := d.bad.Load(); n != 0 {
		t.Errorf("late reply counted bad (%d)", n)
	}
	d.handleReply(old.name, fmt.Appendf(nil, `{"id":%d,"result":{"id":0,"output":true}}`, (old.key+5)<<rpcSeqBits|1))
	if n := d.bad.Load(); n != 1 {
		t.Errorf("reply for a key never issued: bad = %d, want 1", n)
	}
}

// Device accounts rule the embedded broker's logins only: with an
// external broker the driver keeps no table of them (it holds every
// device), even after a reload.
func TestDriver_AccountTable_OnlyWithTheEmbeddedBroker(t *testing.T) {
	devs := []hub.Device{plug("plug-a", "a", hub.Fields(hub.FieldOn)), plug("plug-b", "b", hub.Fields(hub.FieldOn))}
	for _, tc := range []struct {
		name   string
		opts   Options
		tables int
	}{
		{"external", Options{Broker: "tcp://127.0.0.1:1"}, 0},
		{"embedded", Options{Listen: "127.0.0.1:0"}, 2},
	} {
		o := tc.opts
		o.ClientID, o.Apply, o.Devices = "hubd-test", func(hub.Report) error { return nil }, devs
		d, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		if d.broker != nil {
			t.Cleanup(func() { d.broker.srv.Close() })
		}
		if n := len(d.acl.tab.Load().accts); n != tc.tables {
			t.Errorf("%s broker: %d accounts in the table, want %d", tc.name, n, tc.tables)
		}
		if err := d.SetDeviceAccounts(map[string]string{"plug-a": "shared", "plug-b": "shared"}); err != nil {
			t.Fatal(err)
		}
		if err := d.SetDevices(devs); err != nil {
			t.Fatal(err)
		}
		if n := len(d.acl.tab.Load().accts); n != min(tc.tables, 1) {
			t.Errorf("%s broker after a reload: %d accounts in the table, want %d", tc.name, n, min(tc.tables, 1))
		}
	}
}

// The table's subscriptions, derived from its routes, are every topic a
// device's route takes and nothing else; a new table adds only what the
// old one lacks.
func TestTable_FiltersAreTheRoutes(t *testing.T) {
	var rep reports
	devs := []hub.Device{
		{ID: "t", Kind: hub.KindSocket, Driver: DriverName, Address: DialectTasmota + ":tas", Fields: hub.Fields(hub.FieldOn)},
		{ID: "z", Kind: hub.KindLight, Driver: DriverName, Address: DialectZ2M + ":lamp", Fields: hub.Fields(hub.FieldOn)},
		{ID: "s2", Kind: hub.KindSocket, Driver: DriverName, Address: DialectShelly2 + ":pm", Fields: hub.Fields(hub.FieldOn)},
	}
	d, err := New(Options{Broker: "tcp://127.0.0.1:1", ClientID: "hubd-test", Apply: rep.apply, Devices: devs[:2]})
	if err != nil {
		t.Fatal(err)
	}
	old := d.tab.Load()
	want := []string{"hubd/hubd-test/+/rpc", "stat/tas/+", "tele/tas/+",
		"zigbee2mqtt/lamp", "zigbee2mqtt/lamp/availability", "zigbee2mqtt/bridge/devices"}
	if got := sortedSeq(old.filters()); fmt.Sprint(got) != fmt.Sprint(sorted(want)) {
		t.Errorf("filters %v, want %v", got, sorted(want))
	}
	p, err := d.build(devs, old)
	if err != nil {
		t.Fatal(err)
	}
	added := []string{"pm/events/rpc", "pm/online", "pm/status/switch:0"}
	if got := sortedSeq(p.t.added(old)); fmt.Sprint(got) != fmt.Sprint(added) {
		t.Errorf("added %v, want %v", got, added)
	}
	if got := sortedSeq(old.added(p.t)); len(got) != 0 {
		t.Errorf("removed %v, want none", got)
	}
}

func sortedSeq(s iter.Seq[string]) []string { return slices.Sorted(s) }

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
