// Package hub is the domain of hubd: the devices of a building, their
// capabilities and state, the site tree they sit in, the commands sent to
// them, and the Hub service that applies device reports and routes commands.
//
// Every adapter (drivers, store, the Yandex and Alexa integrations, the status
// page) speaks these types; hub itself imports only the standard library.
//
// Data flow: a driver decodes a frame or message into a Report and calls
// Hub.Apply. The hub updates the current state in memory, hands the new
// snapshot to its Store (which coalesces writes) and fans a Change out to
// subscribers without ever blocking the report path. Reads (Hub.Snapshot,
// Hub.Devices) are served from memory and never touch a device.
package hub
