// Package uplink connects a gateway to the fleet's MQTT broker cluster
// (EMQX, VerneMQ, HiveMQ, Mosquitto bridges): it publishes the gateway's
// availability and health, every device's state and availability
// (retained), and the hub's events, and optionally takes commands and
// publishes Home Assistant discovery configs.
//
// The topic layout under the prefix (default "hubd/<gateway name>") is a
// contract, versioned by the "v1" level and the "v" field of every JSON
// payload; README.md's "Fleet uplink" section documents it.
//
// Events go through a durable queue (Queue, implemented by the store) so
// that an outage of the uplink or a restart of the daemon loses none of
// them: they are published in order once the broker is back. Device state
// is not queued: the current value is published again, retained, on every
// connect.
package uplink
