package serial

import (
	"context"
	"errors"
	"fmt"
	"time"

	"hubd/firmware/wire"
	"hubd/hub"
)

// Scan IDENTIFYs every address from first to last on the named bus that
// no configured device holds, and returns the devices that answered, with
// the capabilities, color temperature range and model of their INFO.
//
// Each address is one IDENTIFY without retries, carried by the bus
// goroutine between two device polls like a firmware chunk, so polling
// and commands keep their pace; a silent address costs the bus's reply
// timeout (150 ms by default), so a full 1..247 scan takes about 50 s
// (measured: 51 s with one device polled every second). found, when not
// nil, gets each device as it answers. A second Scan of the same bus while one runs fails with hub.ErrBusy.
func (d *Driver) Scan(ctx context.Context, busName string, first, last int, found func(hub.Found)) ([]hub.Found, error) {
	b := d.byName[busName]
	if b == nil {
		return nil, fmt.Errorf("%w: no bus %q", ErrConfig, busName)
	}
	if first < wire.AddrMin || last > wire.AddrMax || first > last {
		return nil, fmt.Errorf("%w: scan range %d..%d is not within %d..%d", ErrConfig, first, last, wire.AddrMin, wire.AddrMax)
	}
	if !b.scanning.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: bus %s is being scanned already", hub.ErrBusy, busName)
	}
	defer b.scanning.Store(false)
	taken := map[uint8]bool{}
	for _, n := range b.nodeList() {
		taken[n.addr] = true
	}
	var out []hub.Found
	for a := first; a <= last; a++ {
		if taken[uint8(a)] {
			continue
		}
		in, err := b.probe(ctx, uint8(a))
		switch {
		case errors.Is(err, ErrTimeout):
			continue
		case err != nil && ctx.Err() != nil:
			return out, ctx.Err()
		case errors.Is(err, ErrPortGone):
			return out, err
		case err != nil:
			d.log.Info("scan: address answered oddly", "bus", busName, "addr", a, "err", err)
			continue
		}
		f := foundOf(busName, uint8(a), in)
		out = append(out, f)
		if found != nil {
			found(f)
		}
	}
	return out, nil
}

// probe sends one IDENTIFY to addr through the bus goroutine. The node
// has no id, so nothing about it reaches the hub.
func (b *bus) probe(ctx context.Context, addr uint8) (wire.Info, error) {
	n := &node{addr: addr}
	x := &rawExchange{cmd: wire.CmdIdentify, attempts: 1, bulk: true}
	r := &request{ctx: ctx, node: n, raw: x, done: make(chan error, 1)}
	select {
	case b.cmds <- r:
	case <-ctx.Done():
		return wire.Info{}, ctx.Err()
	}
	var err error
	select {
	case err = <-r.done:
	case <-ctx.Done():
		return wire.Info{}, ctx.Err()
	}
	if err != nil {
		return wire.Info{}, err
	}
	if x.resp.Cmd != wire.ReplyInfo {
		return wire.Info{}, fmt.Errorf("%w: %v to IDENTIFY", ErrBadReply, x.resp.Cmd)
	}
	return wire.DecodeInfo(x.resp.Payload)
}

// foundOf describes a device that answered a scan.
func foundOf(busName string, addr uint8, in wire.Info) hub.Found {
	kind := hub.KindLight
	if in.Kind == wire.KindSocket {
		kind = hub.KindSocket
	}
	return hub.Found{
		Driver: Name, Address: fmt.Sprintf("%s/%d", busName, addr), Kind: kind,
		Caps: *capsOf(in), Name: in.Model, Info: *toInfo(in), Seen: time.Now(),
	}
}

// Buses names the driver's buses and whether any device is configured on
// each, so a caller can scan the empty ones at start.
func (d *Driver) Buses() map[string]bool {
	out := make(map[string]bool, len(d.buses))
	for _, b := range d.buses {
		out[b.cfg.Name] = len(b.nodeList()) > 0
	}
	return out
}
