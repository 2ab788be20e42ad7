package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"hubd/hub"
)

// rpcTimeout bounds the wait for a Shelly Gen2 RPC reply when the caller's
// context has no earlier deadline.
const rpcTimeout = 5 * time.Second

// replySrc is the RPC source the hub gives a Shelly Gen2 device: it
// answers on replySrc/rpc, a topic of its own that only its account may
// write (see Accounts), so a reply is known to come from it.
func (d *Driver) replySrc(dv *device) string { return d.src + "/" + dv.name }

// replyFrom is the device prefix of a Shelly Gen2 reply topic.
func (d *Driver) replyFrom(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, d.src) // d.src+"/" would be built for every message
	if ok {
		rest, ok = strings.CutPrefix(rest, "/")
	}
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/rpc")
	return name, ok && name != "" && !strings.Contains(name, "/")
}

// Gen2 RPC ids count up from 1 and wrap below rpcIDLimit: far below 2^31
// and the 1e9 the decoders allow a number, whatever the number of devices
// (ids that carried the device in their high bits outgrew both past
// about 950 devices). The last rpcWindow calls are remembered in a ring
// indexed by id, each with the key of its device and, while Execute waits
// for it, a channel: a reply finds its device there, and a reply whose id
// is not among them matches no request the driver remembers.
const (
	rpcWindow   = 1 << 12 // a burst of calls (two per Gen2 device on connect) fits
	rpcIDLimit  = 1 << 29 // a multiple of rpcWindow: an id keeps its slot
	rpcFirstSeq = 1       // id 0 is never sent, so an empty slot matches nothing
)

// rpcCall is a remembered Gen2 RPC call.
type rpcCall struct {
	id  uint32
	key uint32 // the device's key (keys count devices ever added)
	// name is the device's prefix: its reply must come on its own reply
	// topic (see replySrc).
	name string
	ch   chan shelly2Reply
}

// rpcID returns a new call id for dv and remembers it. It takes the
// device, not its key: the caller found dv in the table it loaded, which
// a reload may have replaced since (a removed device's call must still
// take its reply, whose topic names dv).
func (d *Driver) rpcID(dv *device) uint64 {
	d.pendMu.Lock()
	defer d.pendMu.Unlock()
	if d.calls == nil {
		d.calls = make([]rpcCall, rpcWindow)
	}
	d.rpcSeq++
	if d.rpcSeq < rpcFirstSeq || d.rpcSeq >= rpcIDLimit {
		d.rpcSeq = rpcFirstSeq
	}
	id := d.rpcSeq
	d.calls[id%rpcWindow] = rpcCall{id: id, key: uint32(dv.key), name: dv.name}
	return uint64(id)
}

// takeReply looks up the call r answers: the key of its device, whether
// it is known, and whether Execute was waiting for it (it is handed r).
func (d *Driver) takeReply(r shelly2Reply, from string) (key uint64, known, awaited bool) {
	d.pendMu.Lock()
	if r.ID == 0 || r.ID >= rpcIDLimit || d.calls == nil {
		d.pendMu.Unlock()
		return 0, false, false
	}
	c := &d.calls[r.ID%rpcWindow]
	// A reply to another device's call is not taken: it would end that
	// call's wait with what its sender says.
	if uint64(c.id) != r.ID || c.name != from {
		d.pendMu.Unlock()
		return 0, false, false
	}
	ch := c.ch
	c.ch = nil
	key = uint64(c.key)
	d.pendMu.Unlock()
	if ch != nil {
		ch <- r // buffered, and taken out of the call: never blocks
	}
	return key, true, ch != nil
}

// kindReply is the kind of a Gen2 RPC reply queued on its device (see
// receive); no topic level spells it (MQTT topics hold no NUL).
const kindReply = "\x00rpc reply"

// replyOwner is the device of t whose call the Gen2 reply p, on the reply
// topic of device prefix from, answers; nil when it answers no call the
// driver remembers or its device is not in t. The call is not taken: the
// device's worker takes it, in turn with the device's other messages.
func (d *Driver) replyOwner(t *table, from string, p []byte) *device {
	r, err := decodeShelly2Reply(p)
	if err != nil || r.ID == 0 || r.ID >= rpcIDLimit {
		return nil
	}
	d.pendMu.Lock()
	var c rpcCall
	if d.calls != nil {
		c = d.calls[r.ID%rpcWindow]
	}
	d.pendMu.Unlock()
	if uint64(c.id) != r.ID || c.name != from {
		return nil
	}
	return t.byKey[uint64(c.key)]
}

func (d *Driver) handleReply(from string, p []byte) {
	r, err := decodeShelly2Reply(p)
	if err != nil {
		d.badMessage(nil, "rpc reply", err)
		return
	}
	key, known, awaited := d.takeReply(r, from)
	if !known {
		d.badMessage(nil, "rpc reply", fmt.Errorf("%w: reply id %d from %.40q matches no request to it", ErrBadPayload, r.ID, from))
		return
	}
	dv := d.tab.Load().byKey[key]
	if dv == nil {
		return // a late reply for a removed device
	}
	if r.Error != "" {
		if !awaited { // else Execute says so
			d.lim.log(d.log, "shelly rpc error", "device", dv.id, "error", r.Error, "code", r.Code)
		}
		return
	}
	u, err := decodeShelly2Result(r.Result, dv.comp)
	if errors.Is(err, ErrIgnored) {
		return
	}
	if err != nil {
		d.badMessage(dv, "rpc reply", err)
		return
	}
	d.apply(dv, u, true)
}

// await makes Execute the receiver of the replies to calls ids; done
// stops waiting for those not answered yet (a late reply is still
// applied). A call forgotten already (more than rpcWindow calls ago) gets
// a channel that never receives: Execute times out.
func (d *Driver) await(ids []uint64) (chans []chan shelly2Reply, done func()) {
	d.pendMu.Lock()
	for _, id := range ids {
		ch := make(chan shelly2Reply, 1)
		if c := &d.calls[id%rpcWindow]; uint64(c.id) == id {
			c.ch = ch
		}
		chans = append(chans, ch)
	}
	d.pendMu.Unlock()
	return chans, func() {
		d.pendMu.Lock()
		for i, id := range ids {
			if c := &d.calls[id%rpcWindow]; uint64(c.id) == id && c.ch == chans[i] {
				c.ch = nil
			}
		}
		d.pendMu.Unlock()
	}
}

// awaitReplies waits for every reply; the first error reply fails.
func (d *Driver) awaitReplies(ctx context.Context, id string, replies []chan shelly2Reply) error {
	timer := time.NewTimer(rpcTimeout)
	defer timer.Stop()
	for _, ch := range replies {
		select {
		case r := <-ch:
			if r.Error != "" {
				// A refusal, so the hub shows the device's own words.
				return fmt.Errorf("%w: %s: %w", ErrRejected, id, &hub.Refusal{Reason: fmt.Sprintf("%s (code %d)", r.Error, r.Code), Err: rpcFailure(r.Code)})
			}
		case <-ctx.Done():
			return fmt.Errorf("mqtt: %s: no RPC reply: %w", id, ctx.Err())
		case <-timer.C:
			return fmt.Errorf("mqtt: %s: no RPC reply within %v: %w", id, rpcTimeout, hub.ErrUnreachable)
		}
	}
	return nil
}
