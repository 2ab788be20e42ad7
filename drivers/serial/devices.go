package serial

import (
	"fmt"
	"sort"

	"hubd/hub"
)

// layout is a validated device set: the nodes each bus polls, in address
// order, and where every device is.
type layout struct {
	nodes map[*bus][]*node
	devs  map[string]target
}

// plan checks devs against the driver's buses and lays them out. A device
// already known with the same id, bus and address keeps its node, and with
// it what the bus goroutine knows of it (identified, online, failures). On
// reload the error for an unknown bus says that buses need a restart.
func (d *Driver) plan(devs []hub.Device, reload bool) (layout, error) {
	lay := layout{nodes: map[*bus][]*node{}, devs: map[string]target{}}
	taken := map[*bus]map[uint8]string{}
	for _, dev := range devs {
		if dev.Driver != Name {
			continue
		}
		if dev.ID == "" {
			return layout{}, fmt.Errorf("%w: device at %q has no id", ErrConfig, dev.Address)
		}
		if _, dup := lay.devs[dev.ID]; dup {
			return layout{}, fmt.Errorf("%w: device %s listed twice", ErrConfig, dev.ID)
		}
		name, addr, err := ParseAddress(dev.Address)
		if err != nil {
			return layout{}, fmt.Errorf("device %s: %w", dev.ID, err)
		}
		b := d.byName[name]
		if b == nil {
			if reload {
				return layout{}, fmt.Errorf("%w: device %s is on unknown bus %q (adding a bus needs a restart of hubd)", ErrConfig, dev.ID, name)
			}
			return layout{}, fmt.Errorf("%w: device %s is on unknown bus %q", ErrConfig, dev.ID, name)
		}
		if taken[b] == nil {
			taken[b] = map[uint8]string{}
		}
		if other, ok := taken[b][addr]; ok {
			return layout{}, fmt.Errorf("%w: devices %s and %s share %s", ErrConfig, other, dev.ID, dev.Address)
		}
		taken[b][addr] = dev.ID
		n := &node{id: dev.ID, addr: addr}
		if old, ok := d.devs[dev.ID]; ok && old.bus == b && old.node.addr == addr {
			n = old.node
		}
		lay.nodes[b] = append(lay.nodes[b], n)
		lay.devs[dev.ID] = target{bus: b, node: n}
	}
	for _, ns := range lay.nodes {
		sort.Slice(ns, func(i, j int) bool { return ns[i].addr < ns[j].addr })
	}
	return lay, nil
}

// commit installs a layout. Nodes that are not in it are marked gone
// first, so a bus goroutine still walking the old list skips them and drops
// their queued commands.
func (d *Driver) commit(lay layout) {
	d.mu.Lock()
	for id, old := range d.devs {
		if now, ok := lay.devs[id]; !ok || now.node != old.node {
			old.node.gone.Store(true)
		}
	}
	d.devs = lay.devs
	d.mu.Unlock()
	for _, b := range d.buses {
		b.setNodes(lay.nodes[b])
	}
}

// CheckDevices reports whether SetDevices would accept devs, changing
// nothing. A config reload can check every driver before applying any.
func (d *Driver) CheckDevices(devs []hub.Device) error {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, err := d.plan(devs, true)
	return err
}

// SetDevices replaces the driver's device set while it runs (a config
// reload); devs is the full list, devices of other drivers are ignored.
// It is safe to call at any time, concurrently with Run and Execute.
//
// Everything is checked first: on error nothing changes, and the error
// (wrapping ErrConfig) names the device at fault. Buses are fixed at New: a
// device on a bus that New was not given is refused, since adding a bus
// needs a restart. Ports stay open throughout.
//
// A device that keeps its id and address keeps all the driver knows of it.
// A new device is identified and polled from its bus's next poll cycle. A
// removed device is polled no more, reported no more, and its queued
// commands fail with ErrUnknownDevice without reaching the line; only an
// exchange already on the wire when SetDevices is called may still finish.
// A device whose address changed is removed and added.
func (d *Driver) SetDevices(devs []hub.Device) error {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	d.mu.RLock()
	lay, err := d.plan(devs, true)
	d.mu.RUnlock()
	if err != nil {
		return err
	}
	d.commit(lay)
	d.log.Info("devices set", "devices", len(lay.devs))
	return nil
}
