package web

import (
	"net/http"

	"hubd/hub"
)

// Roles of status page users. A technician runs controls (switch, dim,
// identify, firmware, Alexa sync); a manager may also manage residents:
// list homes with their login names, give a home a new resident login
// and check a home out. Neither can read a resident's password: it is
// stored hashed and shown once, to whoever set it.
const (
	RoleTechnician = "technician"
	RoleManager    = "manager"
)

// HomesAdmin manages the residents of the site's homes. by names who asks
// ("web:<user>") for the event log. Unknown homes and nodes that are not
// homes fail with hub.ErrNotHome.
type HomesAdmin interface {
	List() ([]hub.HomeStatus, error)
	SetLogin(home, by string) (hub.HomeCredentials, error)
	CheckOut(home, by string) (hub.HomeCredentials, error)
}

func (s *Server) homeRoutes(m *http.ServeMux) {
	m.Handle("GET /api/homes", s.api(s.serveHomes))
	m.Handle("POST /api/homes/{id}/login", s.api(func(w http.ResponseWriter, r *http.Request) {
		s.serveHomeChange(w, r, HomesAdmin.SetLogin)
	}))
	m.Handle("POST /api/homes/{id}/checkout", s.api(func(w http.ResponseWriter, r *http.Request) {
		s.serveHomeChange(w, r, HomesAdmin.CheckOut)
	}))
}

// manager authorizes a residents request: a session of RoleManager, and
// for changes also the same-origin and CSRF checks of every control.
func (s *Server) manager(r *http.Request, change bool) (string, error) {
	var sess *session
	var err error
	if change {
		_, sess, err = s.control(r)
	} else if _, sess, _ = s.auth.session(r); sess == nil {
		err = ErrUnauthorized
	}
	switch {
	case err != nil:
		return "", err
	case sess.role != RoleManager:
		return "", ErrForbidden
	case s.opts.Homes == nil:
		return "", ErrNotConfigured
	}
	return sess.user, nil
}

func (s *Server) serveHomes(w http.ResponseWriter, r *http.Request) {
	if _, err := s.manager(r, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	homes, err := s.opts.Homes.List()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if homes == nil {
		homes = []hub.HomeStatus{}
	}
	writeJSON(w, http.StatusOK, homes)
}

// serveHomeChange sets a home's login or checks it out. The answer holds
// the new password: it is not cached (api sets no-store) and not logged.
func (s *Server) serveHomeChange(w http.ResponseWriter, r *http.Request, change func(a HomesAdmin, home, by string) (hub.HomeCredentials, error)) {
	if err := limitBody(w, r, maxBody); err != nil {
		s.writeError(w, r, err)
		return
	}
	user, err := s.manager(r, true)
	if err != nil {
		s.log.Warn("web: residents request refused", "path", r.URL.Path, "user", user, "err", err)
		s.writeError(w, r, err)
		return
	}
	cr, err := change(s.opts.Homes, r.PathValue("id"), "web:"+user)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("web: residents change", "path", r.URL.Path, "user", user)
	writeJSON(w, http.StatusOK, cr)
}
