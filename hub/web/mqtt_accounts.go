package web

import (
	"fmt"
	"net/http"
)

// MQTTAccount is a device account of the embedded MQTT broker and how often
// the broker refused it, for the status page and /metrics.
type MQTTAccount struct {
	Name    string   `json:"name"`
	Devices []string `json:"devices"`
	// HasPassword: the account has a password, so its devices can log in.
	HasPassword bool `json:"has_password"`
	// DeniedPublish counts publishes outside the account's ACL (dropped);
	// DeniedSubscribe subscribes refused with SUBACK 0x80.
	DeniedPublish   uint64 `json:"denied_publish"`
	DeniedSubscribe uint64 `json:"denied_subscribe"`
}

// MQTTBroker is what the embedded MQTT broker holds and how often its
// bounds bit, for /metrics.
type MQTTBroker struct {
	Clients, Connections, Pending, QueuedBytes int
	// Messages not queued for a client: its queue_len, its
	// max_queue_bytes, or max_queued_bytes across all queues.
	DroppedQueueLen, DroppedQueueBytes, DroppedMemory uint64
	// Connections closed: at max_connections, beyond max_pending, for
	// taking nothing written to them, or refused at CONNECT or ended by
	// a protocol error.
	ClosedMaxConnections, ClosedMaxPending, ClosedSlow, Refused uint64
}

var (
	mMQTTDenied      = counterDesc("mqtt_acl_denied_total", "Publishes (dropped) and subscribes (refused) outside a device account's ACL, by account (accounts refused at least once).", "account", "action")
	mBrokerConns     = gaugeDesc("mqtt_broker_connections", "Embedded MQTT broker connections by state (pending: no CONNECT yet; clients: logged in).", "state")
	mBrokerQueued    = gaugeDesc("mqtt_broker_queued_bytes", "Bytes of topics and payloads in the embedded broker's client queues.")
	mBrokerDropped   = counterDesc("mqtt_broker_dropped_total", "Messages the embedded broker did not queue for a client, by the bound that bit.", "bound")
	mBrokerConnsShut = counterDesc("mqtt_broker_connections_closed_total", "Connections the embedded broker closed or refused, by reason.", "reason")
)

// mqttMetrics adds the device accounts' refusals and the embedded
// broker's figures to e. Only accounts refused at least once are exported:
// a building has one account per device, the rest would be zeros.
func (s *Server) mqttMetrics(e *exposition) {
	if s.opts.MQTTAccounts != nil {
		for _, a := range s.opts.MQTTAccounts() {
			if a.DeniedPublish+a.DeniedSubscribe == 0 {
				continue
			}
			e.add(mMQTTDenied, float64(a.DeniedPublish), a.Name, "publish")
			e.add(mMQTTDenied, float64(a.DeniedSubscribe), a.Name, "subscribe")
		}
	}
	if s.opts.MQTTBroker == nil {
		return
	}
	b := s.opts.MQTTBroker()
	e.add(mBrokerConns, float64(b.Connections), "open")
	e.add(mBrokerConns, float64(b.Pending), "pending")
	e.add(mBrokerConns, float64(b.Clients), "clients")
	e.add(mBrokerQueued, float64(b.QueuedBytes))
	for bound, n := range map[string]uint64{"queue_len": b.DroppedQueueLen, "max_queue_bytes": b.DroppedQueueBytes, "max_queued_bytes": b.DroppedMemory} {
		e.add(mBrokerDropped, float64(n), bound)
	}
	for reason, n := range map[string]uint64{"max_connections": b.ClosedMaxConnections, "max_pending": b.ClosedMaxPending, "slow": b.ClosedSlow, "refused": b.Refused} {
		e.add(mBrokerConnsShut, float64(n), reason)
	}
}

// MQTTPassword is a device account's new password, shown this once.
type MQTTPassword struct {
	Account  string   `json:"account"`
	Devices  []string `json:"devices"`
	Password string   `json:"password,omitempty"` // none: the account had one already
	// PasswordFileLine is the account's line for an external Mosquitto's
	// password_file.
	PasswordFileLine string `json:"password_file_line"`
}

// serveMQTTPassword makes (op "create") or replaces (op "rotate") the
// password of the device account {name} names (an account or a device),
// for a signed-in technician.
func (s *Server) serveMQTTPassword(w http.ResponseWriter, r *http.Request) {
	user, _, err := s.control(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	op := r.PathValue("op")
	if s.opts.SetMQTTPassword == nil {
		s.writeError(w, r, fmt.Errorf("%w: no embedded MQTT broker", ErrNotConfigured))
		return
	}
	if op != "create" && op != "rotate" {
		s.writeError(w, r, fmt.Errorf("%w: %q is not create or rotate", ErrBadRequest, op))
		return
	}
	pw, err := s.opts.SetMQTTPassword(r.PathValue("name"), op == "rotate")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("web: MQTT account password set", "user", user, "account", pw.Account, "op", op)
	s.h.Log("info", "web", "", fmt.Sprintf("MQTT account %s: password %sd by %s", pw.Account, op, user))
	writeJSON(w, http.StatusOK, pw)
}
