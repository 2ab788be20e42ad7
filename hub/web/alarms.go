package web

import (
	"fmt"
	"net/http"
)

// serveAckAlarms is a signed-in technician saying the alarms were read
// and dealt with (Options.AckAlarms): they stop showing, and /healthz says
// ok again. The acknowledgement names who gave it, in the log and the
// event log.
func (s *Server) serveAckAlarms(w http.ResponseWriter, r *http.Request) {
	user, _, err := s.control(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.opts.AckAlarms == nil {
		s.writeError(w, r, fmt.Errorf("%w: alarms", ErrNotConfigured))
		return
	}
	n, err := s.opts.AckAlarms(user)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("web: alarms acknowledged", "user", user, "count", n)
	s.h.Log(level(nil), "web", "", fmt.Sprintf("%d alarms acknowledged by %s", n, user))
	writeJSON(w, http.StatusOK, struct {
		Acknowledged int `json:"acknowledged"`
	}{n})
}
