package web

// MQTTAccount is a device account of the embedded MQTT broker and how often
// the broker refused it, for the status page and /metrics.
type MQTTAccount struct {
	Name    string   `json:"name"`
	Devices []string `json:"devices"`
	// DeniedPublish counts publishes outside the account's ACL (dropped);
	// DeniedSubscribe subscribes refused with SUBACK 0x80.
	DeniedPublish   uint64 `json:"denied_publish"`
	DeniedSubscribe uint64 `json:"denied_subscribe"`
}

var mMQTTDenied = counterDesc("mqtt_acl_denied_total", "Publishes (dropped) and subscribes (refused) outside a device account's ACL, by account.", "account", "action")

// mqttAccountMetrics adds the accounts' refusals to e.
func (s *Server) mqttAccountMetrics(e *exposition) {
	if s.opts.MQTTAccounts == nil {
		return
	}
	for _, a := range s.opts.MQTTAccounts() {
		e.add(mMQTTDenied, float64(a.DeniedPublish), a.Name, "publish")
		e.add(mMQTTDenied, float64(a.DeniedSubscribe), a.Name, "subscribe")
	}
}
