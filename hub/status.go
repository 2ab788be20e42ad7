package hub

import "time"

// BusStatus describes one serial bus for the status page and metrics.
type BusStatus struct {
	Name       string    `json:"name"`
	Port       string    `json:"port"`
	Open       bool      `json:"open"`
	OpenSince  time.Time `json:"open_since,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	FramesIn   uint64    `json:"frames_in"`
	FramesOut  uint64    `json:"frames_out"`
	CRCErrors  uint64    `json:"crc_errors"`
	Timeouts   uint64    `json:"timeouts"`
	Reconnects uint64    `json:"reconnects"`
	Devices    int       `json:"devices"`
	// Protocol is the bus's protocol when it is not hubd's own ("modbus").
	Protocol string `json:"protocol,omitempty"`
	// QueueFull counts commands that found the bus's queue full and
	// waited for room.
	QueueFull uint64 `json:"queue_full,omitempty"`
	// Slaves counts failures per device address, in address order (Modbus
	// buses; the hubd protocol's buses count per bus only).
	Slaves []SlaveStatus `json:"slaves,omitempty"`
}

// SlaveStatus counts the failed exchanges with one address on a bus.
type SlaveStatus struct {
	Addr       int    `json:"addr"`
	Timeouts   uint64 `json:"timeouts"`
	CRCErrors  uint64 `json:"crc_errors"`
	Exceptions uint64 `json:"exceptions"`
}

// BrokerStatus describes an MQTT connection.
type BrokerStatus struct {
	Broker     string    `json:"broker"`
	Embedded   bool      `json:"embedded"`
	Connected  bool      `json:"connected"`
	Since      time.Time `json:"since,omitzero"`
	Reconnects uint64    `json:"reconnects"`
	MsgsIn     uint64    `json:"messages_in"` // taken for a device; a topic no device claims is not counted
	MsgsOut    uint64    `json:"messages_out"`
	BadMsgs    uint64    `json:"bad_messages"`
	LastError  string    `json:"last_error,omitempty"`
}

// NotifierStatus describes the push of state changes to a voice platform.
type NotifierStatus struct {
	Enabled     bool      `json:"enabled"`
	Sent        uint64    `json:"sent"`
	Failed      uint64    `json:"failed"`
	Pending     int       `json:"pending"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// UnitStatus is one site node as synced to Alexa.
type UnitStatus struct {
	Node      string `json:"node"`
	Name      string `json:"name"`
	UnitID    string `json:"unit_id,omitempty"`
	Discovery string `json:"discovery,omitempty"` // last discovery session status
	// Warning is what the last sync could not change here and why (an
	// occupied or linked home refusing a rename); "" when all went well.
	Warning string `json:"warning,omitempty"`
}

// SyncStatus describes the Alexa sync.
type SyncStatus struct {
	Enabled   bool         `json:"enabled"`
	LastRun   time.Time    `json:"last_run,omitzero"`
	LastOK    time.Time    `json:"last_ok,omitzero"`
	Running   bool         `json:"running"`
	Plan      []string     `json:"plan"` // pending steps, human readable
	LastError string       `json:"last_error,omitempty"`
	Calls     uint64       `json:"calls"`
	Units     []UnitStatus `json:"units"`
	// CallsFailed is how many of Calls failed (for metrics by result).
	CallsFailed uint64 `json:"calls_failed"`
	// Warnings are changes the last sync skipped on purpose (e.g. an
	// occupied home's rename): worth a look, but not a failure.
	Warnings []string `json:"warnings,omitempty"`
}
