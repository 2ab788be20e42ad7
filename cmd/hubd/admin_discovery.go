package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"hubd/hub"
	"hubd/hub/web"
)

// maxAdminBody bounds a request body on the admin socket.
const maxAdminBody = 16 << 10

// errDiscoveryOff is returned by the admin socket's discovery calls on a
// daemon whose discovery is off.
var errDiscoveryOff = errors.New("admin: discovery is off on this daemon")

// ScanRequest is the body of POST /scan on the admin socket.
type ScanRequest struct {
	Bus  string `json:"bus"`
	From int    `json:"from"`
	To   int    `json:"to"`
}

// adminDiscovery routes `hubd discover`, `hubd adopt`, `hubd forget` and
// check-config's question about what devices reported.
func (m *Main) adminDiscovery(mux *http.ServeMux) {
	route := func(pattern string, fn func(a *Adoption, r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			m.admin(w, r, func(string) (any, error) {
				if m.Adoption == nil {
					return nil, errDiscoveryOff
				}
				return fn(m.Adoption, r)
			})
		})
	}
	route("GET /discovered", func(a *Adoption, r *http.Request) (any, error) {
		return newDevices(a.New()), nil
	})
	route("GET /reported", func(a *Adoption, r *http.Request) (any, error) {
		out := map[string]reportedCaps{}
		for _, d := range m.Hub.Devices() {
			if c, ok := m.Hub.Reported(d.ID); ok {
				out[d.ID] = reportedCaps{Driver: d.Driver, Address: d.Address, Fields: uint16(c.Fields), TempMinK: c.TempMinK, TempMaxK: c.TempMaxK}
			}
		}
		return out, nil
	})
	route("POST /adopt", func(a *Adoption, r *http.Request) (any, error) {
		body, err := adminBody(r)
		if err != nil {
			return nil, err
		}
		req, err := web.DecodeAdopt(body)
		if err != nil {
			return nil, err
		}
		ad, err := a.Adopt(r.Context(), req)
		if err != nil {
			return nil, err
		}
		d := ad.Device
		out := map[string]any{"id": d.ID, "room": d.Room, "capabilities": d.Fields.String()}
		if ad.MQTT != nil {
			out["mqtt_account"] = ad.MQTT
		}
		if ad.Next != "" {
			out["next"] = ad.Next
		}
		return out, nil
	})
	route("POST /forget", func(a *Adoption, r *http.Request) (any, error) {
		var req web.ForgetRequest
		if err := adminJSON(r, &req); err != nil {
			return nil, err
		}
		return map[string]string{"id": req.ID}, a.Forget(r.Context(), req.ID)
	})
	route("POST /scan", func(a *Adoption, r *http.Request) (any, error) {
		var req ScanRequest
		if err := adminJSON(r, &req); err != nil {
			return nil, err
		}
		fs, err := a.Scan(r.Context(), req.Bus, req.From, req.To)
		return newDevices(fs), err
	})
}

func newDevices(fs []hub.Found) []web.NewDevice {
	out := []web.NewDevice{}
	for _, f := range fs {
		out = append(out, web.NewDeviceOf(f))
	}
	return out
}

func adminBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", web.ErrBadRequest, err)
	}
	if len(b) > maxAdminBody {
		return nil, fmt.Errorf("%w: body over %d bytes", web.ErrBadRequest, maxAdminBody)
	}
	return b, nil
}

func adminJSON(r *http.Request, v any) error {
	b, err := adminBody(r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", web.ErrBadRequest, err)
	}
	return nil
}
