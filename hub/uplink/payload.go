package uplink

import (
	"encoding/json"
	"time"

	"hubd/hub"
)

// statusMsg is the gateway's and each device's availability.
type statusMsg struct {
	V      int    `json:"v"`
	Status string `json:"status"` // online or offline
}

func statusPayload(online bool) []byte {
	s := "offline"
	if online {
		s = "online"
	}
	b, _ := json.Marshal(statusMsg{V: Version, Status: s})
	return b
}

// stateMsg is a device's state. Its on/off, brightness, colour fields are
// named as Home Assistant's JSON-schema light reads them, so that one
// retained message serves the fleet and Home Assistant alike.
type stateMsg struct {
	V          int        `json:"v"`
	Device     string     `json:"device"`
	Kind       string     `json:"kind"`
	Room       string     `json:"room,omitempty"`
	Online     bool       `json:"online"`
	LastSeen   *time.Time `json:"last_seen,omitempty"`
	State      string     `json:"state,omitempty"` // ON or OFF
	Brightness *int       `json:"brightness,omitempty"`
	ColorMode  string     `json:"color_mode,omitempty"` // hs or color_temp
	Color      *colorMsg  `json:"color,omitempty"`
	ColorTemp  *int       `json:"color_temp,omitempty"` // kelvin
	Power      *float64   `json:"power,omitempty"`
	Voltage    *float64   `json:"voltage,omitempty"`
	Current    *float64   `json:"current,omitempty"`
	Energy     *float64   `json:"energy,omitempty"`
}

type colorMsg struct {
	H int `json:"h"`
	S int `json:"s"`
}

func statePayload(d hub.Device, s hub.Snapshot, online bool) []byte {
	m := stateMsg{V: Version, Device: d.ID, Kind: string(d.Kind), Room: d.Room, Online: online}
	if !s.LastSeen.IsZero() {
		at := s.LastSeen.UTC()
		m.LastSeen = &at
	}
	st := &s.State
	has := func(f hub.Field) bool { return st.Set.Has(f) && d.Fields.Has(f) }
	if has(hub.FieldOn) {
		m.State = "OFF"
		if st.On {
			m.State = "ON"
		}
	}
	if has(hub.FieldBrightness) {
		m.Brightness = ptr(st.Brightness)
	}
	if has(hub.FieldColor) {
		m.Color = &colorMsg{H: st.Color.H, S: st.Color.S}
	}
	if has(hub.FieldTemperatureK) {
		m.ColorTemp = ptr(st.TemperatureK)
	}
	switch {
	case st.Mode == hub.ColorModeHSV && m.Color != nil:
		m.ColorMode = "hs"
	case st.Mode == hub.ColorModeTemperature && m.ColorTemp != nil:
		m.ColorMode = "color_temp"
	}
	for f, dst := range map[hub.Field]**float64{hub.FieldPower: &m.Power, hub.FieldVoltage: &m.Voltage, hub.FieldCurrent: &m.Current, hub.FieldEnergy: &m.Energy} {
		if has(f) {
			*dst = ptr(st.Float(f))
		}
	}
	b, _ := json.Marshal(m)
	return b
}

func ptr[T any](v T) *T { return &v }

// eventMsg is one of the hub's events, numbered by the queue: a subscriber
// that sees a seq twice (a resend after a lost acknowledgement) drops it.
type eventMsg struct {
	V       int       `json:"v"`
	Seq     uint64    `json:"seq"`
	Gateway string    `json:"gateway"`
	At      time.Time `json:"at"`
	Level   string    `json:"level"`
	Source  string    `json:"source"`
	Device  string    `json:"device,omitempty"`
	Text    string    `json:"text"`
}

// queuedEvent is what the queue keeps of an event (the seq is the queue's).
func queuedEvent(ev hub.Event) []byte {
	b, _ := json.Marshal(ev)
	return b
}

func eventPayload(gateway string, it QueueItem) ([]byte, error) {
	var ev hub.Event
	if err := json.Unmarshal(it.Value, &ev); err != nil {
		return nil, err
	}
	return json.Marshal(eventMsg{V: Version, Seq: it.Seq, Gateway: gateway, At: ev.At.UTC(), Level: ev.Level, Source: ev.Source, Device: ev.Device, Text: ev.Text})
}

// healthMsg is the gateway's health, retained and refreshed periodically.
type healthMsg struct {
	V             int                `json:"v"`
	Gateway       string             `json:"gateway"`
	Version       string             `json:"version"`
	Commit        string             `json:"commit,omitempty"`
	At            time.Time          `json:"at"`
	Started       time.Time          `json:"started"`
	UptimeSeconds int64              `json:"uptime_s"`
	Devices       int                `json:"devices"`
	Online        int                `json:"devices_online"`
	Buses         []hub.BusStatus    `json:"buses"`
	Brokers       []hub.BrokerStatus `json:"brokers"`
	Queue         queueMsg           `json:"queue"`
}

type queueMsg struct {
	Events  int    `json:"events"`
	Bytes   int64  `json:"bytes"`
	Dropped uint64 `json:"dropped"`
	// Missed is how many hub changes the uplink's subscription dropped
	// (the uplink fell behind the hub).
	Missed uint64 `json:"missed"`
}
