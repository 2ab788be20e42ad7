package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"hubd/drivers/mqtt"
	"hubd/hub"
	"hubd/hub/web"
)

// errNoEmbeddedBroker is returned for a commissioning window on a daemon
// whose devices use an external broker (which keeps its own accounts).
var errNoEmbeddedBroker = fmt.Errorf("%w: commissioning windows are for the embedded MQTT broker; an external broker keeps its own accounts", hub.ErrNotSupported)

// openCommissioning opens the embedded broker to new devices for d (0:
// the default), with a new random password, and says who did it.
func (m *Main) openCommissioning(d time.Duration, by string) (web.Commissioning, error) {
	if err := m.commissioningBroker(); err != nil {
		return web.Commissioning{}, err
	}
	max := m.config().MQTT.Limits.maxCommissioning()
	switch {
	case d == 0:
		d = min(defaultCommissionWindow, max)
	case d < time.Minute || d > max:
		return web.Commissioning{}, fmt.Errorf("%w: a commissioning window lasts 1m..%v (mqtt.limits.max_commissioning), not %v", hub.ErrInvalidValue, max, d)
	}
	pw, err := newMQTTPassword()
	if err != nil {
		return web.Commissioning{}, err
	}
	until := time.Now().Add(d).Truncate(time.Second)
	if err := m.MQTT.OpenCommissioning(pw, until); err != nil {
		return web.Commissioning{}, err
	}
	msg := fmt.Sprintf("commissioning window opened by %s until %s: new MQTT devices may log in as %q and announce themselves", by, until.UTC().Format(time.RFC3339), mqtt.CommissioningAccount)
	m.Log.Info(msg)
	m.Hub.Log("info", "hubd", "", msg)
	st := m.commissioning()
	st.Password = pw
	return st, nil
}

// closeCommissioning ends the window at once.
func (m *Main) closeCommissioning(by string) (web.Commissioning, error) {
	if err := m.commissioningBroker(); err != nil {
		return web.Commissioning{}, err
	}
	n := m.MQTT.CloseCommissioning()
	msg := fmt.Sprintf("commissioning window closed by %s (%d clients disconnected)", by, n)
	m.Log.Info(msg)
	m.Hub.Log("info", "hubd", "", msg)
	return m.commissioning(), nil
}

func (m *Main) commissioningBroker() error {
	if m.MQTT == nil || m.config().MQTT.Broker != "" {
		return errNoEmbeddedBroker
	}
	return nil
}

// commissioning is the window's state, with the account and the broker
// addresses a device is given; never the password.
func (m *Main) commissioning() web.Commissioning {
	if m.commissioningBroker() != nil {
		return web.Commissioning{}
	}
	st := m.MQTT.Commissioning()
	c := web.Commissioning{Open: st.Open, Until: st.Until, Clients: st.Clients, MaxClients: st.MaxClients,
		RefusedFull: st.Refused, DeniedPublish: st.DeniedPublish, DeniedSubscribe: st.DeniedSubscribe,
		User: mqtt.CommissioningAccount}
	for _, a := range []string{m.MQTT.BrokerAddr(), m.MQTT.BrokerTLSAddr()} {
		if a == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a); err == nil {
			c.Ports = append(c.Ports, port)
		}
	}
	return c
}

// CommissionRequest is the body of POST /commissioning on the admin
// socket: the window's length ("" for the default).
type CommissionRequest struct {
	For string `json:"for"`
}

// adminCommission routes `hubd commission`.
func (m *Main) adminCommission(mux *http.ServeMux) {
	mux.HandleFunc("GET /commissioning", func(w http.ResponseWriter, r *http.Request) {
		m.admin(w, r, func(string) (any, error) { return m.commissioning(), m.commissioningBroker() })
	})
	mux.HandleFunc("POST /commissioning", func(w http.ResponseWriter, r *http.Request) {
		m.admin(w, r, func(by string) (any, error) {
			var req CommissionRequest
			if err := adminJSON(r, &req); err != nil {
				return nil, err
			}
			var d time.Duration
			if req.For != "" {
				var err error
				if d, err = time.ParseDuration(req.For); err != nil {
					return nil, fmt.Errorf("%w: for %q: %v", web.ErrBadRequest, req.For, err)
				}
			}
			return m.openCommissioning(d, by)
		})
	})
	mux.HandleFunc("DELETE /commissioning", func(w http.ResponseWriter, r *http.Request) {
		m.admin(w, r, func(by string) (any, error) { return m.closeCommissioning(by) })
	})
}

// webCommissioning is the status page's side of the window.
type webCommissioning struct{ m *Main }

func (c webCommissioning) Commissioning() web.Commissioning { return c.m.commissioning() }
func (c webCommissioning) OpenCommissioning(d time.Duration, by string) (web.Commissioning, error) {
	return c.m.openCommissioning(d, "web:"+by)
}
func (c webCommissioning) CloseCommissioning(by string) (web.Commissioning, error) {
	return c.m.closeCommissioning("web:" + by)
}
