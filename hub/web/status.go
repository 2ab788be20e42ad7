package web

import (
	"net/http"
	"runtime"
	"time"

	"hubd/hub"
)

// Status is the JSON snapshot of /api/status and of the feed's first event.
// A nil section means that part is not configured on this gateway.
//
// Devices is one page of the device list (the first, or the feed's query),
// Page says which; the header's counts in Gateway are over every device.
type Status struct {
	Gateway  Gateway             `json:"gateway"`
	Devices  []DeviceView        `json:"devices"`
	Page     PageInfo            `json:"page"`
	Problems []ProblemView       `json:"problems"` // the summary's worst problems
	Site     []*NodeView         `json:"site"`
	Buses    []hub.BusStatus     `json:"buses"`
	Brokers  []hub.BrokerStatus  `json:"brokers"`
	Notifier *hub.NotifierStatus `json:"notifier"`
	Alexa    *hub.SyncStatus     `json:"alexa"`
	Uplink   *hub.UplinkStatus   `json:"uplink"`
	Events   []EventView         `json:"events"`
	// Feed names the live-feed stream that sent this snapshot, for
	// GET /api/devices?feed=; empty in /api/status.
	Feed string `json:"feed,omitempty"`
	// Controls says which controls this gateway offers at all.
	Controls Controls `json:"controls"`

	// MQTTAccounts: the embedded broker's device accounts (null: no
	// embedded broker).
	MQTTAccounts []MQTTAccount `json:"mqtt_accounts"`
}

// Gateway is who this gateway is.
type Gateway struct {
	Name       string    `json:"name"`
	Version    string    `json:"version"`
	Commit     string    `json:"commit"`
	GOARCH     string    `json:"goarch"`
	Started    time.Time `json:"started"`
	Now        time.Time `json:"now"`
	UptimeSec  int64     `json:"uptime_s"`
	StoreBytes *int64    `json:"store_bytes"`
	Health     string    `json:"health"` // "ok" or the reason it is not
	Alarms     []string  `json:"alarms"` // Options.Alarms; empty when none
	// State is the page's verdict, hub.Assess's: healthy, degraded, down.
	// Health is only the daemon's own check, as /healthz gives systemd.
	State     hub.Level `json:"state"`
	Online    int       `json:"online"`     // devices reachable now
	Total     int       `json:"total"`      // devices configured
	Faulty    int       `json:"faulty"`     // devices with a diagnosis
	LinksDown int       `json:"links_down"` // buses and brokers down
	// HeartbeatMS is how often the live feed sends a tick.
	HeartbeatMS int64 `json:"heartbeat_ms"`
}

// Controls lists what may be done from the page.
type Controls struct {
	Login    bool `json:"login"`    // users are configured
	SyncNow  bool `json:"sync_now"` // an Alexa sync can be started
	Firmware bool `json:"firmware"` // firmware updates are enabled
}

// DeviceView is one device as the page shows it.
type DeviceView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Kind      hub.Kind  `json:"kind"`
	Room      string    `json:"room,omitempty"`
	RoomPath  []string  `json:"room_path,omitempty"` // names from building down
	Driver    string    `json:"driver"`
	Address   string    `json:"address"`
	Online    bool      `json:"online"`
	Reachable bool      `json:"reachable"` // online and not stale
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// Fault is the diagnosis: why the device does not work, since when;
	// nil: nothing wrong.
	Fault *hub.Fault `json:"fault,omitempty"`
	// Link is link quality as the device or its bus reported it.
	Link     *hub.Link `json:"link,omitempty"`
	Fields   []string  `json:"fields"`
	TempMinK int       `json:"temp_min_k,omitempty"`
	TempMaxK int       `json:"temp_max_k,omitempty"`
	State    StateView `json:"state"`
	Info     hub.Info  `json:"info"`
	Seq      uint64    `json:"seq"`
	// FirmwareUpdatable: the page can update this device's firmware.
	FirmwareUpdatable bool `json:"firmware_updatable,omitempty"`
	// FirmwareUpdate is the latest update started from the page, running
	// or finished; nil: none since the daemon started.
	FirmwareUpdate *FirmwareJob `json:"firmware_update,omitempty"`
}

// StateView holds the reported values; absent fields were never reported.
type StateView struct {
	On           *bool    `json:"on,omitempty"`
	Brightness   *int     `json:"brightness,omitempty"`
	Color        *hub.HSV `json:"color,omitempty"`
	TemperatureK *int     `json:"temperature_k,omitempty"`
	Mode         string   `json:"mode,omitempty"`
	Power        *float64 `json:"power,omitempty"`
	Voltage      *float64 `json:"voltage,omitempty"`
	Current      *float64 `json:"current,omitempty"`
	Energy       *float64 `json:"energy,omitempty"`
}

// NodeView is a site node. It counts its devices rather than list them:
// the page lists a room's devices by asking for the room's page.
type NodeView struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Kind     hub.NodeKind `json:"kind"`
	Count    int          `json:"count"` // devices placed on this node itself
	Children []*NodeView  `json:"children,omitempty"`
}

// EventView is an event with the device's name and place, so the log can
// word and filter it without the device being on the page.
type EventView struct {
	hub.Event
	DeviceName string   `json:"device_name,omitempty"`
	Room       string   `json:"room,omitempty"` // the site node holding the device
	RoomPath   []string `json:"room_path,omitempty"`
}

func (s *Server) eventView(ev hub.Event) EventView {
	v := EventView{Event: ev}
	if ev.Device == "" {
		return v
	}
	if d, ok := s.h.Device(ev.Device); ok {
		v.DeviceName, v.Room = d.Name, d.Room
		if v.DeviceName == "" {
			v.DeviceName = d.ID
		}
	}
	for _, n := range s.h.RoomPath(ev.Device) {
		v.RoomPath = append(v.RoomPath, n.Name)
	}
	return v
}

func ptr[T any](v T) *T { return &v }

func stateView(st *hub.State) StateView {
	var v StateView
	if st.Set.Has(hub.FieldOn) {
		v.On = ptr(st.On)
	}
	if st.Set.Has(hub.FieldBrightness) {
		v.Brightness = ptr(st.Brightness)
	}
	if st.Set.Has(hub.FieldColor) {
		v.Color = ptr(st.Color)
	}
	if st.Set.Has(hub.FieldTemperatureK) {
		v.TemperatureK = ptr(st.TemperatureK)
	}
	switch st.Mode {
	case hub.ColorModeHSV:
		v.Mode = "color"
	case hub.ColorModeTemperature:
		v.Mode = "temperature"
	}
	if st.Set.Has(hub.FieldPower) {
		v.Power = ptr(st.Power)
	}
	if st.Set.Has(hub.FieldVoltage) {
		v.Voltage = ptr(st.Voltage)
	}
	if st.Set.Has(hub.FieldCurrent) {
		v.Current = ptr(st.Current)
	}
	if st.Set.Has(hub.FieldEnergy) {
		v.Energy = ptr(st.Energy)
	}
	return v
}

// deviceView describes device id, or reports false when it is gone.
func (s *Server) deviceView(id string, l *links) (DeviceView, bool) {
	d, snap, ok := s.h.Snapshot(id)
	if !ok {
		return DeviceView{}, false
	}
	reachable := s.h.Reachable(&snap)
	v := DeviceView{
		ID:        d.ID,
		Name:      d.Name,
		Kind:      d.Kind,
		Room:      d.Room,
		Driver:    d.Driver,
		Address:   d.Address,
		Online:    snap.Online,
		Reachable: reachable,
		LastSeen:  snap.LastSeen,
		Fault:     s.fault(&snap, reachable, l),
		Link:      linkView(snap.Link),
		Fields:    []string{},
		State:     stateView(&snap.State),
		Info:      d.Info,
		Seq:       snap.Seq,
	}
	if v.Name == "" {
		v.Name = d.ID
	}
	v.FirmwareUpdatable = s.fw.capable(d)
	if j, ok := s.fw.job(d.ID); ok {
		v.FirmwareUpdate = &j
	}
	if d.Fields.Has(hub.FieldTemperatureK) {
		v.TempMinK, v.TempMaxK = d.TempMinK, d.TempMaxK
	}
	for _, f := range d.Fields.List() {
		v.Fields = append(v.Fields, f.String())
	}
	for _, n := range s.h.RoomPath(id) {
		v.RoomPath = append(v.RoomPath, n.Name)
	}
	return v, true
}

func nodeViews(nodes []*hub.Node) []*NodeView {
	out := make([]*NodeView, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, &NodeView{ID: n.ID, Name: n.Name, Kind: n.Kind, Count: len(n.Devices), Children: nodeViews(n.Children)})
	}
	return out
}

// gateway is the status header: the gateway's facts and its verdict.
func (s *Server) gateway(l *links) Gateway {
	return s.gatewayOf(l, s.tallyDevices(l))
}

// gatewayOf is gateway with the devices counted already (t: tallyDevices).
func (s *Server) gatewayOf(l *links, t hub.Tally) Gateway {
	now := s.opts.Now()
	g := Gateway{
		Name:      s.opts.Name,
		Version:   s.opts.Version,
		Commit:    s.opts.Commit,
		GOARCH:    runtime.GOARCH,
		Started:   s.opts.Started,
		Now:       now,
		UptimeSec: int64(now.Sub(s.opts.Started) / time.Second),
		Health:    "ok",
		Alarms:    []string{},
	}
	if s.opts.Alarms != nil {
		g.Alarms = append(g.Alarms, s.opts.Alarms()...)
	}
	if a := s.guard.hostAlarm(now); a != "" {
		g.Alarms = append(g.Alarms, a)
	}
	if s.opts.StoreSize != nil {
		g.StoreBytes = ptr(s.opts.StoreSize())
	}
	if err := s.healthCached(); err != nil {
		g.Health = err.Error()
	}
	s.assess(&g, l, t)
	return g
}

// baseStatus is the snapshot without its page of devices.
func (s *Server) baseStatus() Status {
	site := s.h.Site()
	l := s.links()
	st := Status{
		Gateway:  s.gateway(&l),
		Devices:  []DeviceView{},
		Problems: s.problems(&l),
		Site:     []*NodeView{},
		Events:   []EventView{},
		Controls: Controls{Login: s.auth.hasUsers(), SyncNow: s.opts.SyncNow != nil, Firmware: s.fw.enabled()},
	}
	for _, ev := range s.h.Events() {
		st.Events = append(st.Events, s.eventView(ev))
	}
	if site != nil {
		st.Site = nodeViews(site.Buildings)
	}
	s.sections(&st, &l)
	return st
}

// withPage is base with the page of q; with c, the page becomes what c's
// stream follows (before the views are read: a racing change is sent
// again, never lost).
func (s *Server) withPage(base Status, q *deviceQuery, c *client, ver uint64) Status {
	var hold func([]string)
	if c != nil {
		base.Feed = c.id
		hold = func(ids []string) { c.keepView(ver, *q, ids) }
	}
	l := s.links()
	p := s.devicePage(q, &l, hold)
	base.Devices, base.Page = p.Devices, p.PageInfo
	return base
}

// status is the snapshot of /api/status: the first page of every device.
func (s *Server) status() Status {
	q := deviceQuery{Limit: min(defaultPageSize, s.opts.MaxFeedDevices)}
	return s.withPage(s.baseStatus(), &q, nil, 0)
}

// sectionsStatus is the feed's periodic "sections" event: the header, the
// links and the summary of problems.
func (s *Server) sectionsStatus() Status {
	var st Status
	l := s.links()
	st.Gateway = s.gateway(&l)
	st.Problems = s.problems(&l)
	s.sections(&st, &l)
	return st
}

// sections fills the parts that come from Options functions.
func (s *Server) sections(st *Status, l *links) {
	st.Buses, st.Brokers, st.Notifier, st.Alexa, st.Uplink = l.buses, l.brokers, l.notifier, l.alexa, l.uplink
	if s.opts.MQTTAccounts != nil {
		st.MQTTAccounts = nonNil(s.opts.MQTTAccounts())
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	if !s.canView(r) {
		s.writeError(w, r, ErrUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, s.status())
}

func goarch() string { return runtime.GOARCH }
