package main

import (
	"fmt"
	"net"
	"time"

	"gopkg.in/yaml.v3"

	"hubd/drivers/mqtt"
)

// unitOpenFiles is the unit's LimitNOFILE (systemd/hubd.service): the
// embedded broker's connections must leave file descriptors for the rest.
const (
	unitOpenFiles   = 16384
	maxMQTTConnsCap = unitOpenFiles - 512
)

// MQTTLimits is mqtt.limits: the embedded broker's bounds. Zero takes the
// default (in brackets); beyond a bound the broker refuses or drops, counts
// it and logs at most a line a second.
type MQTTLimits struct {
	MaxConnections  int           `yaml:"max_connections"`   // open connections, logged in or not [5000]
	MaxPending      int           `yaml:"max_pending"`       // connections without CONNECT yet; more close the oldest [1024]
	ConnectTimeout  time.Duration `yaml:"connect_timeout"`   // to send CONNECT [5s]
	QueueLen        int           `yaml:"queue_len"`         // messages queued for one client [4096]
	MaxQueueBytes   int           `yaml:"max_queue_bytes"`   // bytes queued for one client [twice the largest packet, 8.1 MiB]
	MaxQueuedBytes  int           `yaml:"max_queued_bytes"`  // bytes queued for all clients, away ones too [64 MiB]
	MaxAwaySessions int           `yaml:"max_away_sessions"` // persistent sessions kept for absent clients [1000]
	SessionExpiry   time.Duration `yaml:"session_expiry"`    // how long one is kept [24h]
	// Commissioning windows (`hubd commission`): clients logged in at once
	// under the commissioning account [32], and the longest window [4h].
	CommissioningClients int           `yaml:"commissioning_clients"`
	MaxCommissioning     time.Duration `yaml:"max_commissioning"`
}

// Commissioning windows: the default length and the longest allowed.
const (
	defaultCommissionWindow = 30 * time.Minute
	defaultMaxCommissioning = 4 * time.Hour
)

// maxCommissioning is the longest commissioning window l allows.
func (l MQTTLimits) maxCommissioning() time.Duration {
	if l.MaxCommissioning > 0 {
		return l.MaxCommissioning
	}
	return defaultMaxCommissioning
}

func (l MQTTLimits) broker() mqtt.BrokerLimits {
	return mqtt.BrokerLimits{
		MaxConnections: l.MaxConnections, MaxPending: l.MaxPending, ConnectTimeout: l.ConnectTimeout,
		MaxQueueBytes: l.MaxQueueBytes, MaxQueuedBytes: l.MaxQueuedBytes,
		MaxAwaySessions: l.MaxAwaySessions, SessionExpiry: l.SessionExpiry,
	}
}

// embeddedBrokerOptions sets o's embedded broker fields from the config.
func (m *MQTTConfig) embeddedBrokerOptions(o *mqtt.Options) {
	o.TLSListen, o.TLSCert, o.TLSKey = m.TLSListen, m.TLSCertFile, m.TLSKeyFile
	o.BrokerLimits, o.BrokerQueueLen = m.Limits.broker(), m.Limits.QueueLen
	o.CommissioningClients = m.Limits.CommissioningClients
}

// brokerRestartKeys are what a reload cannot change on a running embedded
// broker (its certificate files are read again instead).
func (m *MQTTConfig) brokerRestartKeys() [5]any {
	return [5]any{m.Broker, m.Listen, m.TLSListen, m.TLSCertFile + "\x00" + m.TLSKeyFile, m.Limits}
}

// validateMQTTBroker checks the TLS listener and the bounds.
func (c *Config) validateMQTTBroker(name string, root *yaml.Node) ConfigErrors {
	m := c.MQTT
	if m == nil {
		return nil
	}
	var es ConfigErrors
	add := func(line int, format string, args ...any) {
		es = append(es, ConfigError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	if m.Broker != "" {
		if m.TLSListen != "" || m.Limits != (MQTTLimits{}) {
			add(lineOf(root, "mqtt", "broker"), "mqtt.tls_listen and mqtt.limits are for the embedded broker, not with mqtt.broker")
		}
		return es
	}
	if m.TLSListen != "" {
		if _, _, err := net.SplitHostPort(m.TLSListen); err != nil {
			add(lineOf(root, "mqtt", "tls_listen"), "mqtt.tls_listen %q is not host:port", m.TLSListen)
		}
		if m.TLSCertFile == "" || m.TLSKeyFile == "" {
			add(lineOf(root, "mqtt", "tls_listen"), "mqtt.tls_listen needs tls_cert_file and tls_key_file (PEM)")
		}
	} else if m.TLSCertFile != "" || m.TLSKeyFile != "" {
		add(lineOf(root, "mqtt", "tls_cert_file"), "mqtt.tls_cert_file and tls_key_file need tls_listen")
	}
	l := m.Limits
	for key, v := range map[string]int{"max_connections": l.MaxConnections, "max_pending": l.MaxPending, "queue_len": l.QueueLen,
		"max_queue_bytes": l.MaxQueueBytes, "max_queued_bytes": l.MaxQueuedBytes, "max_away_sessions": l.MaxAwaySessions,
		"commissioning_clients": l.CommissioningClients} {
		if v < 0 {
			add(lineOf(root, "mqtt", "limits", key), "mqtt.limits.%s %d is negative", key, v)
		}
	}
	if l.MaxConnections > maxMQTTConnsCap {
		add(lineOf(root, "mqtt", "limits", "max_connections"), "mqtt.limits.max_connections %d leaves too few of the unit's %d open files (at most %d)", l.MaxConnections, unitOpenFiles, maxMQTTConnsCap)
	}
	if l.ConnectTimeout != 0 && (l.ConnectTimeout < 100*time.Millisecond || l.ConnectTimeout > time.Minute) {
		add(lineOf(root, "mqtt", "limits", "connect_timeout"), "mqtt.limits.connect_timeout %v is not within 100ms..1m", l.ConnectTimeout)
	}
	if l.MaxCommissioning != 0 && (l.MaxCommissioning < time.Minute || l.MaxCommissioning > 24*time.Hour) {
		add(lineOf(root, "mqtt", "limits", "max_commissioning"), "mqtt.limits.max_commissioning %v is not within 1m..24h", l.MaxCommissioning)
	}
	if l.SessionExpiry != 0 && l.SessionExpiry < time.Minute {
		add(lineOf(root, "mqtt", "limits", "session_expiry"), "mqtt.limits.session_expiry %v is shorter than 1m", l.SessionExpiry)
	}
	return es
}
