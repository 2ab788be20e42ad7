package hub

import "time"

// UplinkStatus is what the fleet uplink (hub/uplink) did so far: its
// connection to the fleet's MQTT broker and its store-and-forward queue of
// events, for the status page, /metrics and tests.
type UplinkStatus struct {
	Broker    string    `json:"broker"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since,omitzero"` // connected or lost since
	Connects  uint64    `json:"connects"`
	// EventsSent are events published; Queued (QueuedBytes) wait for the
	// broker; Dropped were the oldest queued, dropped at the queue's bound;
	// Missed never reached the queue (the uplink fell behind the hub).
	EventsSent       uint64 `json:"events_sent"`
	Queued           int    `json:"queued"`
	QueuedBytes      int64  `json:"queued_bytes"`
	Dropped          uint64 `json:"dropped"`
	Missed           uint64 `json:"missed"`
	CommandsAccepted uint64 `json:"commands_accepted"`
	CommandsRefused  uint64 `json:"commands_refused"`
	LastError        string `json:"last_error,omitempty"`
}
