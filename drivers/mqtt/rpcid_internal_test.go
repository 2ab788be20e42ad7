package mqtt

import (
	"encoding/json"
	"fmt"
	"testing"

	"hubd/hub"
)

// rpcSeqBits is how many low bits of a Gen2 RPC id the driver once kept
// for a sequence number (the device's key filled the rest): tests use it
// to make ids the driver never issued.
const rpcSeqBits = 20

// gen2Devices are n Shelly Gen2 plugs, plus-0000 ... in order.
func gen2Devices(n int) []hub.Device {
	out := make([]hub.Device, n)
	for i := range out {
		out[i] = hub.Device{ID: fmt.Sprintf("s2-%04d", i), Kind: hub.KindSocket, Driver: DriverName,
			Address: fmt.Sprintf("%s:plus-%04d", DialectShelly2, i), Fields: hub.Fields(hub.FieldOn, hub.FieldPower)}
	}
	return out
}

// gen2Driver is a driver of devs that is never connected, and the
// reports it hands the hub.
func gen2Driver(t *testing.T, devs []hub.Device) (*Driver, *reports) {
	t.Helper()
	rep := &reports{}
	d, err := New(Options{Broker: "tcp://127.0.0.1:1", ClientID: "hubd-test", Apply: rep.apply, Devices: devs})
	if err != nil {
		t.Fatal(err)
	}
	return d, rep
}

// sentID is the id of the RPC request frame m carries.
func sentID(t *testing.T, m message) uint64 {
	t.Helper()
	var req struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(m.Payload), &req); err != nil {
		t.Fatalf("request %q: %v", m.Payload, err)
	}
	return req.ID
}

// With 1,200 Gen2 devices every device's replies are applied: ids stay
// small whatever the device's place in the list.
func TestDriver_Shelly2_RepliesOfEveryDeviceOfMany_Applied(t *testing.T) {
	devs := gen2Devices(1200)
	d, rep := gen2Driver(t, devs)
	tab := d.tab.Load()
	for i, hd := range devs {
		dv := tab.byID[hd.ID]
		msgs := append(d.query(dv), d.identify(dv)...)
		if len(msgs) != 2 {
			t.Fatalf("%s: %d requests, want a query and an identify", hd.ID, len(msgs))
		}
		q, ident := sentID(t, msgs[0]), sentID(t, msgs[1])
		for _, id := range []uint64{q, ident} {
			if id == 0 || id >= 1<<31 || float64(id) > 1e9 {
				t.Fatalf("%s: RPC id %d out of the safe range", hd.ID, id)
			}
		}
		d.handleReply(dv.name, fmt.Appendf(nil, `{"id":%d,"src":"plus-%04d","dst":"hubd/hubd-test","result":{"id":0,"output":true,"apower":%d}}`, q, i, i))
		d.handleReply(dv.name, fmt.Appendf(nil, `{"id":%d,"src":"plus-%04d","result":{"model":"SNPL-00112EU","ver":"1.0.8"}}`, ident, i))
	}
	if n := d.bad.Load(); n != 0 {
		t.Fatalf("%d replies counted bad; last: %s", n, d.Status()[0].LastError)
	}
	for i, hd := range devs {
		got := rep.of(hd.ID)
		if len(got) != 2 {
			t.Fatalf("%s (device %d): %d reports, want 2: %+v", hd.ID, i, len(got), got)
		}
		if s := got[0].State; !s.On || s.Power != float64(i) {
			t.Errorf("%s: state %+v, want on at %d W", hd.ID, s, i)
		}
		if in := got[1].Info; in == nil || in.Model != "SNPL-00112EU" {
			t.Errorf("%s: info %+v", hd.ID, got[1].Info)
		}
	}
}

// Ids wrap below rpcIDLimit; a reply to a call forgotten long ago, or to
// an id never given, matches nothing and is counted bad.
func TestDriver_Shelly2_RPCIDsWrapAndForget(t *testing.T) {
	d, rep := gen2Driver(t, gen2Devices(3))
	dv := d.tab.Load().byID["s2-0002"]
	d.rpcSeq = rpcIDLimit - 2
	a, b, c := d.rpcID(dv), d.rpcID(dv), d.rpcID(dv)
	if a != rpcIDLimit-1 || b != rpcFirstSeq || c != rpcFirstSeq+1 {
		t.Fatalf("ids around the wrap: %d %d %d", a, b, c)
	}
	reply := func(id uint64) []byte {
		return fmt.Appendf(nil, `{"id":%d,"result":{"id":0,"output":true}}`, id)
	}
	for _, id := range []uint64{a, b, c} {
		d.handleReply(dv.name, reply(id))
	}
	if got := len(rep.of("s2-0002")); got != 3 || d.bad.Load() != 0 {
		t.Fatalf("replies around the wrap: %d applied, %d bad", got, d.bad.Load())
	}
	for range rpcWindow {
		d.rpcID(dv)
	}
	for _, id := range []uint64{a, b, 0, rpcIDLimit, 1 << 40} {
		d.handleReply(dv.name, reply(id))
	}
	if n := d.bad.Load(); n != 5 {
		t.Errorf("forgotten and never given ids: bad = %d, want 5", n)
	}
	if got := len(rep.of("s2-0002")); got != 3 {
		t.Errorf("a forgotten call's reply was applied: %d reports", got)
	}
}

// Execute's wait gets the reply of its call even among many others, and
// a second copy of the reply is applied but not delivered twice.
func TestDriver_Shelly2_AwaitedReplyDeliveredOnce(t *testing.T) {
	d, _ := gen2Driver(t, gen2Devices(1200))
	dv := d.tab.Load().byID["s2-1199"]
	id := d.rpcID(dv)
	chans, done := d.await([]uint64{id})
	defer done()
	for range 100 {
		d.rpcID(dv) // other calls in between
	}
	frame := fmt.Appendf(nil, `{"id":%d,"result":{"was_on":false}}`, id)
	d.handleReply(dv.name, frame)
	d.handleReply(dv.name, frame)
	select {
	case r := <-chans[0]:
		if r.ID != id || r.Error != "" {
			t.Fatalf("delivered %+v", r)
		}
	default:
		t.Fatal("the awaited reply was not delivered")
	}
	select {
	case r := <-chans[0]:
		t.Fatalf("delivered twice: %+v", r)
	default:
	}
	if n := d.bad.Load(); n != 0 {
		t.Errorf("bad = %d", n)
	}
}

// A Gen2 device cannot answer another's call: a reply with the other's id
// on its own reply topic is bad and leaves the call waiting for the real
// answer.
func TestDriver_Shelly2_ReplyToAnotherDevicesCallRefused(t *testing.T) {
	d, rep := gen2Driver(t, gen2Devices(2))
	evil, victim := d.tab.Load().byID["s2-0000"], d.tab.Load().byID["s2-0001"]
	id := d.rpcID(victim)
	chans, done := d.await([]uint64{id})
	defer done()
	forged := fmt.Appendf(nil, `{"id":%d,"src":"%s","result":{"id":0,"output":true,"apower":999}}`, id, victim.name)
	if from, ok := d.replyFrom(d.replySrc(evil) + "/rpc"); !ok || from != evil.name {
		t.Fatalf("reply topic of %s parsed as %q, %v", evil.name, from, ok)
	}
	d.handleReply(evil.name, forged)
	if n := d.bad.Load(); n != 1 || len(rep.of(victim.id)) != 0 || len(chans[0]) != 0 {
		t.Fatalf("forged reply: bad %d, victim reports %d, waiter got %d", n, len(rep.of(victim.id)), len(chans[0]))
	}
	d.handleReply(victim.name, forged)
	if len(chans[0]) != 1 || len(rep.of(victim.id)) != 1 {
		t.Errorf("the victim's own reply: waiter got %d, reports %d", len(chans[0]), len(rep.of(victim.id)))
	}
	for _, topic := range []string{"hubd/hubd-test/rpc", "hubd/hubd-test/a/b/rpc", "hubd/hubd-test//rpc", "hubd/other/x/rpc", "hubd/hubd-test/x/rpcs"} {
		if from, ok := d.replyFrom(topic); ok {
			t.Errorf("%q taken as a reply from %q", topic, from)
		}
	}
}

// A reload that removes a device while Execute is sending it a call (the
// device found in the table Execute loaded, the call made after the new
// table is in) leaves the call waiting for that device's reply, not for
// nobody's: the reply ends the wait instead of a 5 s timeout.
func TestDriver_Shelly2_CallMadeAcrossAReloadTakesItsReply(t *testing.T) {
	devs := gen2Devices(2)
	d, rep := gen2Driver(t, devs)
	dv := d.tab.Load().byID["s2-0001"]
	if err := d.SetDevices(devs[:1]); err != nil { // s2-0001 goes
		t.Fatal(err)
	}
	id := d.rpcID(dv)
	chans, done := d.await([]uint64{id})
	defer done()
	d.handleReply(dv.name, fmt.Appendf(nil, `{"id":%d,"src":"%s","result":{"was_on":false}}`, id, dv.name))
	select {
	case r := <-chans[0]:
		if r.ID != id || r.Error != "" {
			t.Fatalf("delivered %+v", r)
		}
	default:
		t.Fatalf("the reply of a call made across the reload was not taken (bad %d)", d.bad.Load())
	}
	if got := rep.of("s2-0001"); len(got) != 0 {
		t.Errorf("the removed device's reply was applied: %+v", got)
	}
}

// A Gen2 reply is handled in turn with its device's own messages: the
// status the broker replayed on subscribing, queued before the reply to a
// later GetStatus, is applied before it, so the device ends as the reply
// says whichever worker runs first. A reply that answers no call stays
// on the replies' queue and is counted bad there.
func TestDriver_Shelly2_ReplyQueuedBehindTheDevicesMessages(t *testing.T) {
	d, rep := gen2Driver(t, gen2Devices(2))
	dv := d.tab.Load().byID["s2-0001"]
	id := d.rpcID(dv)
	d.receive(ownTopic(dv), []byte(`{"id":0,"output":false}`), true)
	d.receive(d.replySrc(dv)+"/rpc", fmt.Appendf(nil, `{"id":%d,"src":"%s","result":{"id":0,"output":true}}`, id, dv.name), false)
	if d.rpcDev.n != 0 || dv.n != 2 {
		t.Fatalf("queued: %d on the device, %d on the replies' queue; want both on the device", dv.n, d.rpcDev.n)
	}
	d.drain(d.rpcDev) // the replies' worker first: nothing of the device's there
	d.drain(dv)
	got := rep.of("s2-0001")
	if len(got) != 2 || got[0].State.On || !got[1].State.On {
		t.Fatalf("reports %+v, want the replayed status (off) and then the reply (on)", got)
	}
	d.receive(d.replySrc(dv)+"/rpc", []byte(`{"id":12345,"result":{"id":0,"output":false}}`), false)
	if d.rpcDev.n != 1 || dv.n != 0 {
		t.Fatalf("a reply to no call: %d on the replies' queue, %d on the device", d.rpcDev.n, dv.n)
	}
	d.drain(d.rpcDev)
	if n := d.bad.Load(); n != 1 || len(rep.of("s2-0001")) != 2 {
		t.Fatalf("a reply to no call: bad %d, reports %d", n, len(rep.of("s2-0001")))
	}
}

// A device whose messages come faster than they are applied loses its
// oldest messages, never a reply a command waits for: the replies stay,
// in order with what is kept.
func TestDriver_Shelly2_FullQueueKeepsTheReplies(t *testing.T) {
	d := idleDriver(t, Options{QueueLen: 4}, gen2Devices(1)...)
	dv := d.tab.Load().byID["s2-0000"]
	msg := func(what string) { d.enqueue(dv, item{kind: "status/switch:0", payload: []byte(what)}) }
	reply := func(what string) { d.enqueue(dv, item{kind: kindReply, payload: []byte(what)}) }
	queued := func() string {
		var got []string
		for i := range dv.n {
			it := dv.q[(dv.head+i)%len(dv.q)]
			if it.kind == kindReply {
				got = append(got, "reply "+string(it.payload))
			} else {
				got = append(got, string(it.payload))
			}
		}
		return fmt.Sprint(got)
	}
	msg("a")
	reply("1")
	msg("b")
	msg("c")
	msg("d") // full: a goes
	msg("e") // b goes, not the reply before it
	if got, want := queued(), "[reply 1 c d e]"; got != want {
		t.Fatalf("queued %s, want %s", got, want)
	}
	reply("2")
	reply("3")
	reply("4") // only replies left
	if got, want := queued(), "[reply 1 reply 2 reply 3 reply 4]"; got != want {
		t.Fatalf("queued %s, want %s", got, want)
	}
	msg("f") // every one a reply: the oldest goes
	if got, want := queued(), "[reply 2 reply 3 reply 4 f]"; got != want {
		t.Fatalf("queued %s, want %s", got, want)
	}
	if n := d.dropped.Load(); n != 6 {
		t.Errorf("dropped %d, want 6", n)
	}
}

// A reload that removes a device hands the replies queued on it, and any
// that come for it after, to the replies' queue: the command that waits
// for one takes it.
func TestDriver_Shelly2_RemovedDevicesRepliesStillAnswer(t *testing.T) {
	devs := gen2Devices(2)
	d := idleDriver(t, Options{}, devs...)
	dv := d.tab.Load().byID["s2-0001"]
	first, second := d.rpcID(dv), d.rpcID(dv)
	chans, done := d.await([]uint64{first, second})
	defer done()
	replyOf := func(id uint64) []byte {
		return fmt.Appendf(nil, `{"id":%d,"src":"%s","result":{"was_on":false}}`, id, dv.name)
	}
	d.receive(d.replySrc(dv)+"/rpc", replyOf(first), false)
	if dv.n != 1 {
		t.Fatalf("the reply is not queued on its device (%d there)", dv.n)
	}
	if err := d.SetDevices(devs[:1]); err != nil {
		t.Fatal(err)
	}
	d.enqueue(dv, item{kind: kindReply, payload: replyOf(second)}) // routed before the reload
	if dv.n != 0 || d.rpcDev.n != 2 {
		t.Fatalf("after the removal: %d on the device, %d on the replies' queue; want 0 and 2", dv.n, d.rpcDev.n)
	}
	d.drain(d.rpcDev)
	for i, ch := range chans {
		select {
		case r := <-ch:
			if r.Error != "" {
				t.Errorf("reply %d: %+v", i+1, r)
			}
		default:
			t.Errorf("reply %d did not reach the command waiting for it", i+1)
		}
	}
	if n := d.bad.Load(); n != 0 {
		t.Errorf("bad = %d", n)
	}
}
