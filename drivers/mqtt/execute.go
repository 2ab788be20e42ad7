package mqtt

import (
	"context"
	"fmt"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/hub"
)

// identify returns the messages that make dv say what it is. Zigbee2MQTT
// devices need none: the bridge's retained list says it.
func (d *Driver) identify(dv *device) []message {
	switch dv.dialect {
	case DialectTasmota:
		return tasmotaIdentify(dv.base)
	case DialectShelly1:
		return shelly1Identify(dv.base)
	case DialectShelly2:
		return []message{{dv.base + "/rpc", shelly2RPC(d.rpcID(dv), d.replySrc(dv), "Shelly.GetDeviceInfo", nil)}}
	}
	return nil
}

// query returns the messages that make dv report its current state.
func (d *Driver) query(dv *device) []message {
	switch dv.dialect {
	case DialectTasmota:
		fields := dv.Fields()
		if dv.ch > 1 {
			fields = fields.Minus(hub.MeterFields) // ENERGY is the first relay's
		}
		return tasmotaQuery(dv.base, fields)
	case DialectZ2M:
		return []message{{dv.base + "/get", z2mGet(dv.Fields())}}
	case DialectShelly1:
		return shelly1Query(dv.base)
	case DialectShelly2:
		return []message{d.shelly2GetStatus(dv)}
	}
	return nil
}

// commands encodes cmd for dv.
func (d *Driver) commands(dv *device, cmd hub.Command) []message {
	switch dv.dialect {
	case DialectTasmota:
		return tasmotaCommands(dv.base, dv.ch, cmd)
	case DialectZ2M:
		return []message{{dv.base + "/set", z2mSet(cmd)}}
	case DialectShelly1:
		return shelly1Commands(dv.base, dv.ch, dv.Fields(), cmd)
	}
	return nil // Shelly Gen2: Execute sends shelly2Calls, whose replies it awaits
}

// shelly2GetStatus asks dv's component for its status.
func (d *Driver) shelly2GetStatus(dv *device) message {
	ns := shelly2Namespaces[shelly2Type(dv.comp)]
	return message{dv.base + "/rpc", shelly2RPC(d.rpcID(dv), d.replySrc(dv), ns+".GetStatus", map[string]any{"id": shelly2ID(dv.comp)})}
}

// shelly2Calls encodes cmd for a Gen2 device as RPC calls on its
// component (Switch.Set, Light.Set, CCT.Set, RGB.Set, RGBW.Set), with
// their ids.
func (d *Driver) shelly2Calls(dv *device, cmd hub.Command) ([]message, []uint64) {
	var out []message
	var ids []uint64
	typ := shelly2Type(dv.comp)
	ns := shelly2Namespaces[typ]
	call := func(method string, params map[string]any) {
		id := d.rpcID(dv)
		params["id"] = shelly2ID(dv.comp)
		out = append(out, message{dv.base + "/rpc", shelly2RPC(id, d.replySrc(dv), method, params)})
		ids = append(ids, id)
	}
	if cmd.Identify {
		for range 2 {
			call(ns+".Toggle", map[string]any{})
		}
	}
	if params := shelly2SetParams(typ, &cmd.Set); len(params) > 0 {
		call(ns+".Set", params)
	}
	return out, ids
}

// Execute publishes cmd to the device (QoS 1, never retained) and returns
// once the broker took it. The hub waits for the state echo. While the
// broker connection is down the command fails with ErrNotConnected
// (wrapping hub.ErrUnreachable) and is not kept for later.
//
// A Shelly Gen2 device answers every call, but announces a change only:
// switching on a plug that is on brings no NotifyStatus. So Execute waits
// for the RPC replies (until ctx ends, at most rpcTimeout); an error reply
// fails the command with ErrRejected and the hub error that fits its code
// (see rpcFailure). After a successful Switch.Set it asks for the switch's
// status, whose reply is the state echo the hub waits for.
func (d *Driver) Execute(ctx context.Context, dev hub.Device, cmd hub.Command) error {
	dv, ok := d.tab.Load().byID[dev.ID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownDevice, dev.ID)
	}
	if unsupported := cmd.Set.Set.Minus(supported(dv.dialect, dv.comp, dv.Fields())); !unsupported.Empty() {
		return fmt.Errorf("%w: %s (%s) cannot set %s", hub.ErrNotSupported, dev.ID, dv.dialect, unsupported)
	}
	var msgs []message
	var ids []uint64
	if dv.dialect == DialectShelly2 {
		msgs, ids = d.shelly2Calls(dv, cmd)
	} else {
		msgs = d.commands(dv, cmd)
	}
	if len(msgs) == 0 {
		return nil
	}
	c := d.client
	if c == nil || !c.IsConnectionOpen() {
		return fmt.Errorf("%w: %w", ErrNotConnected, hub.ErrUnreachable)
	}
	var replies []chan shelly2Reply
	if len(ids) > 0 {
		var done func()
		replies, done = d.await(ids)
		defer done()
	}
	var toks []paho.Token
	for _, m := range msgs {
		toks = append(toks, c.Publish(m.Topic, 1, false, m.Payload))
		d.msgsOut.Add(1)
	}
	for _, t := range toks {
		select {
		case <-t.Done():
			if err := t.Error(); err != nil {
				return fmt.Errorf("mqtt: publish to %s: %w: %w", dev.ID, err, hub.ErrUnreachable)
			}
		case <-ctx.Done():
			return fmt.Errorf("mqtt: publish to %s: %w", dev.ID, ctx.Err())
		}
	}
	if len(replies) == 0 {
		return nil
	}
	if err := d.awaitReplies(ctx, dev.ID, replies); err != nil {
		return err
	}
	if !cmd.Set.Set.Empty() {
		get := d.shelly2GetStatus(dv)
		c.Publish(get.Topic, 1, false, get.Payload)
		d.msgsOut.Add(1)
	}
	return nil
}

// supported is what a dialect can set; measurements are never settable.
func supported(dialect, comp string, fields hub.FieldSet) hub.FieldSet {
	switch dialect {
	case DialectShelly2:
		return shelly2Settable[shelly2Type(comp)]
	case DialectShelly1:
		return fields.Intersect(hub.Fields(hub.FieldOn, hub.FieldBrightness))
	}
	return fields.Intersect(hub.LightFields)
}
