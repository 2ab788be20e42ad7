package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"

	"hubd/hub"
)

// Adoption lists the devices discovery found that are not configured yet
// and adopts or forgets them; cmd/hubd implements it. Adopt gives a found
// device an id, a name and a room and makes it live at once; Forget
// removes an adopted device.
type Adoption interface {
	New() []hub.Found
	Adopt(ctx context.Context, r AdoptRequest) (Adopted, error)
	Forget(ctx context.Context, id string) error
	Stats() DiscoveryStats
}

// DiscoveryStats are discovery's figures for /metrics.
type DiscoveryStats struct {
	Found   int    // devices in the found table
	New     int    // of them, not configured or adopted
	Max     int    // the table's bound (discovery.max_found)
	Dropped uint64 // newcomers turned away at Max
}

var (
	mDiscoveryFound   = gaugeDesc("discovery_found", "Devices discovery found, by whether a configured or adopted device is at them.", "state")
	mDiscoveryMax     = gaugeDesc("discovery_found_max", "The bound of the found-device table (discovery.max_found).")
	mDiscoveryDropped = counterDesc("discovery_dropped_total", "New devices left out of discovery because its table was full.")
)

func (s *Server) discoveryMetrics(e *exposition) {
	if s.opts.Adoption == nil {
		return
	}
	st := s.opts.Adoption.Stats()
	e.add(mDiscoveryFound, float64(st.New), "new")
	e.add(mDiscoveryFound, float64(st.Found-st.New), "configured")
	e.add(mDiscoveryMax, float64(st.Max))
	e.add(mDiscoveryDropped, float64(st.Dropped))
}

// Adopted is what an adoption made: the live device and, for an MQTT
// device on the embedded broker, its device account, with a password
// when the adoption made one (shown this once), and what the technician
// does next.
type Adopted struct {
	Device hub.Device
	MQTT   *MQTTPassword
	Next   string
}

// AdoptRequest is the body of POST /api/adopt: the found device (driver
// and address, as GET /api/discovered lists them) and what to call it.
type AdoptRequest struct {
	Driver  string `json:"driver"`
	Address string `json:"address"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Room    string `json:"room"`
}

// ForgetRequest is the body of POST /api/forget.
type ForgetRequest struct {
	ID string `json:"id"`
}

// NewDevice is a found device as GET /api/discovered and `hubd discover`
// show it.
type NewDevice struct {
	Driver       string   `json:"driver"`
	Address      string   `json:"address"`
	Kind         hub.Kind `json:"kind"`
	Name         string   `json:"name,omitempty"`
	Capabilities []string `json:"capabilities"`
	TempMinK     int      `json:"temperature_min_k,omitempty"`
	TempMaxK     int      `json:"temperature_max_k,omitempty"`
	Info         hub.Info `json:"info"`
	Seen         string   `json:"seen"`
	Unsupported  string   `json:"unsupported,omitempty"`
}

// NewDeviceOf describes a found device.
func NewDeviceOf(f hub.Found) NewDevice {
	d := NewDevice{Driver: f.Driver, Address: f.Address, Kind: f.Kind, Name: f.Name, Info: f.Info,
		Seen: f.Seen.UTC().Format("2006-01-02T15:04:05Z"), Unsupported: f.Unsupported, Capabilities: []string{}}
	for _, fl := range f.Caps.Fields.List() {
		d.Capabilities = append(d.Capabilities, fl.String())
	}
	if f.Caps.Fields.Has(hub.FieldTemperatureK) {
		d.TempMinK, d.TempMaxK = f.Caps.TempMinK, f.Caps.TempMaxK
	}
	return d
}

// validID is what a device id given on adoption may look like: it ends up
// in URLs, MQTT topics of the uplink and the Yandex API.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// DecodeAdopt parses and checks an adoption body. Errors wrap
// ErrBadRequest.
func DecodeAdopt(body []byte) (AdoptRequest, error) {
	var r AdoptRequest
	if err := decodeStrict(body, &r); err != nil {
		return r, err
	}
	switch {
	case !validID.MatchString(r.ID):
		return r, fmt.Errorf("%w: id %.70q: 1..64 letters, digits, '.', '_' or '-'", ErrBadRequest, r.ID)
	case r.Driver == "" || r.Address == "" || len(r.Address) > 256:
		return r, fmt.Errorf("%w: driver and address of the found device are required", ErrBadRequest)
	case r.Room == "" || len(r.Room) > 128:
		return r, fmt.Errorf("%w: room is required", ErrBadRequest)
	case len(r.Name) > 128:
		return r, fmt.Errorf("%w: name is longer than 128 bytes", ErrBadRequest)
	}
	return r, nil
}

func decodeStrict(body []byte, v any) error {
	if len(body) > maxBody {
		return fmt.Errorf("%w: body is over %d bytes", ErrBadRequest, maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", ErrBadRequest)
	}
	return nil
}

// serveDiscovered lists the new devices to a signed-in user (even where
// viewing is open: the list is for technicians).
func (s *Server) serveDiscovered(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.auth.session(r); !ok {
		s.writeError(w, r, ErrUnauthorized)
		return
	}
	if s.opts.Adoption == nil {
		s.writeError(w, r, fmt.Errorf("%w: discovery is off", ErrNotConfigured))
		return
	}
	out := []NewDevice{}
	for _, f := range s.opts.Adoption.New() {
		out = append(out, NewDeviceOf(f))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) serveAdopt(w http.ResponseWriter, r *http.Request) {
	user, body, ok := s.adoptionControl(w, r)
	if !ok {
		return
	}
	req, err := DecodeAdopt(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ad, err := s.opts.Adoption.Adopt(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dev := ad.Device
	s.h.Log("info", "web", dev.ID, fmt.Sprintf("adopted %s %s by %s", req.Driver, req.Address, user))
	out := map[string]any{"id": dev.ID, "room": dev.Room, "capabilities": capabilityNames(dev.Fields)}
	if ad.MQTT != nil {
		out["mqtt_account"] = ad.MQTT
	}
	if ad.Next != "" {
		out["next"] = ad.Next
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) serveForget(w http.ResponseWriter, r *http.Request) {
	user, body, ok := s.adoptionControl(w, r)
	if !ok {
		return
	}
	var req ForgetRequest
	if err := decodeStrict(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.opts.Adoption.Forget(r.Context(), req.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.h.Log("info", "web", req.ID, "forgotten by "+user)
	writeJSON(w, http.StatusOK, map[string]string{"id": req.ID})
}

// adoptionControl authorizes an adoption change and reads its body.
func (s *Server) adoptionControl(w http.ResponseWriter, r *http.Request) (string, []byte, bool) {
	var off error
	if s.opts.Adoption == nil {
		off = fmt.Errorf("%w: discovery is off", ErrNotConfigured)
	}
	return s.controlBody(w, r, off)
}

// controlBody authorizes a change (signed in, same origin, CSRF token)
// that off, when not nil, says is not available, and reads its body.
func (s *Server) controlBody(w http.ResponseWriter, r *http.Request, off error) (string, []byte, bool) {
	user, _, err := s.control(r)
	if err == nil {
		err = off
	}
	var body []byte
	if err == nil {
		body, err = readBody(w, r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return "", nil, false
	}
	return user, body, true
}

func capabilityNames(fs hub.FieldSet) []string {
	out := []string{}
	for _, f := range fs.List() {
		out = append(out, f.String())
	}
	return out
}
