// Package mqtt is hubd's MQTT driver: one client connection per broker, an
// embedded broker (package broker) used when no external one is configured,
// and one dialect per device family (Tasmota, Zigbee2MQTT, Shelly Gen1 and
// Gen2+).
//
// Device addresses name the dialect and the device within it:
//
//	tasmota:<topic>        Tasmota %topic%, parsed against Options.TasmotaFullTopic
//	z2m:<friendly name>    Zigbee2MQTT friendly name (may contain '/')
//	shelly:<id>            Shelly Gen1 device id (shellies/<id>/...)
//	shelly2:<prefix>       Shelly Gen2+ topic prefix
//
// A device with several outputs is several hub devices, one per output,
// with a suffix after the first (see Address): "tasmota:<topic>:2" is
// POWER2, "shelly:<id>:1" relay/1, "shelly2:<prefix>:cct:0" the Gen2
// component cct:0 (CCT.Set). They share the device's topics (a message is
// queued for each, and each decodes its own part) and, by default, its
// broker account.
//
// Message handlers never block: a message is routed by its exact topic to
// its device and queued there (a small bounded queue; on overflow the oldest
// message is dropped, a device's state being idempotent). A pool of workers
// decodes queued messages with the dialect's pure decoder and applies the
// result to the hub. Subscriptions are made in the on-connect handler, and
// after every (re)connect each device is asked for its current state.
// SetDevices changes the device set on the live connection (a config
// reload): new devices are subscribed and asked, removed ones unsubscribed.
// Commands are published with QoS 1 and never retained; a command issued
// while the connection is down fails at once and is never replayed.
//
// Devices whose own reports are rarer than the hub's StaleAfter (Tasmota
// sends telemetry every 5 minutes) are asked for their state once per
// Options.RefreshInterval, spread evenly over it. A device that says it
// is online live (it connected after the hub) is asked at once.
//
// Shelly Gen2 commands wait for the RPC reply: an error reply fails the
// command (ErrRejected), a successful Switch.Set (Light.Set, CCT.Set,
// RGB.Set, RGBW.Set) is followed by the component's GetStatus, whose
// reply confirms it even when nothing changed. A reply is queued on the
// device whose call it answers, behind what the device said before it
// (a status the broker replayed is not applied after a later reply), and
// is never the message an overflow drops while the device's own chatter
// can go instead; a reply to no known call, or to a removed device's,
// has a queue of its own.
//
// What a device is (hub.Info) comes from Tasmota's STATUS2 and INFO1,
// Zigbee2MQTT's bridge/devices list, Shelly Gen1's announce and Gen2's
// Shelly.GetDeviceInfo; it is merged over the configured Info and rides
// with the device's next report.
package mqtt
