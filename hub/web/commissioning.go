package web

import (
	"fmt"
	"net/http"
	"time"
)

// Commissioning is the embedded MQTT broker's commissioning window: while
// it is open, new devices log in as User with its password (shown once,
// to whoever opened it) and announce themselves, so discovery lists them
// for adoption.
type Commissioning struct {
	Open       bool      `json:"open"`
	Until      time.Time `json:"until,omitzero"`
	User       string    `json:"user,omitempty"`
	Password   string    `json:"password,omitempty"` // in the answer to open only
	Ports      []string  `json:"ports,omitempty"`    // the broker's ports (plain, then TLS)
	Clients    int       `json:"clients"`
	MaxClients int       `json:"max_clients"`
	// RefusedFull counts logins refused at MaxClients; DeniedPublish and
	// DeniedSubscribe what commissioning clients were refused.
	RefusedFull     uint64 `json:"refused_full"`
	DeniedPublish   uint64 `json:"denied_publish"`
	DeniedSubscribe uint64 `json:"denied_subscribe"`
}

// CommissioningControl opens and closes the window; cmd/hubd implements
// it. by is the signed-in user, for the event log.
type CommissioningControl interface {
	Commissioning() Commissioning
	OpenCommissioning(d time.Duration, by string) (Commissioning, error)
	CloseCommissioning(by string) (Commissioning, error)
}

var (
	mComOpen    = gaugeDesc("mqtt_commissioning_open", "1 while a commissioning window is open on the embedded MQTT broker.")
	mComClients = gaugeDesc("mqtt_commissioning_clients", "Clients logged in under the commissioning account.")
	mComRefused = counterDesc("mqtt_commissioning_refused_total", "What commissioning clients were refused: logins at commissioning_clients, publishes, subscribes.", "what")
)

func (s *Server) commissioningMetrics(e *exposition) {
	if s.opts.Commissioning == nil {
		return
	}
	st := s.opts.Commissioning.Commissioning()
	e.add(mComOpen, b2f(st.Open))
	e.add(mComClients, float64(st.Clients))
	e.add(mComRefused, float64(st.RefusedFull), "login")
	e.add(mComRefused, float64(st.DeniedPublish), "publish")
	e.add(mComRefused, float64(st.DeniedSubscribe), "subscribe")
}

// CommissionRequest is the body of POST /api/commissioning.
type CommissionRequest struct {
	Minutes int `json:"minutes"` // 0: the default length (30 min, or mqtt.limits.max_commissioning if shorter)
}

func (s *Server) commissioningRoutes(m *http.ServeMux) {
	m.Handle("GET /api/commissioning", s.api(s.serveCommissioning))
	m.Handle("POST /api/commissioning", s.api(s.serveCommissionOpen))
	m.Handle("POST /api/commissioning/close", s.api(s.serveCommissionClose))
}

// serveCommissioning shows the window to a signed-in user.
func (s *Server) serveCommissioning(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.auth.session(r); !ok {
		s.writeError(w, r, ErrUnauthorized)
		return
	}
	if s.opts.Commissioning == nil {
		s.writeError(w, r, fmt.Errorf("%w: no embedded MQTT broker", ErrNotConfigured))
		return
	}
	writeJSON(w, http.StatusOK, s.opts.Commissioning.Commissioning())
}

func (s *Server) serveCommissionOpen(w http.ResponseWriter, r *http.Request) {
	user, body, ok := s.commissionControl(w, r)
	if !ok {
		return
	}
	var req CommissionRequest
	if err := decodeStrict(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Minutes < 0 || req.Minutes > 24*60 {
		s.writeError(w, r, fmt.Errorf("%w: minutes %d is not 0..1440", ErrBadRequest, req.Minutes))
		return
	}
	st, err := s.opts.Commissioning.OpenCommissioning(time.Duration(req.Minutes)*time.Minute, user)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) serveCommissionClose(w http.ResponseWriter, r *http.Request) {
	user, _, ok := s.commissionControl(w, r)
	if !ok {
		return
	}
	st, err := s.opts.Commissioning.CloseCommissioning(user)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// commissionControl authorizes a change of the window and reads its body.
func (s *Server) commissionControl(w http.ResponseWriter, r *http.Request) (string, []byte, bool) {
	var off error
	if s.opts.Commissioning == nil {
		off = fmt.Errorf("%w: no embedded MQTT broker", ErrNotConfigured)
	}
	return s.controlBody(w, r, off)
}
