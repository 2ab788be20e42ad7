package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// selfSigned writes a certificate for 127.0.0.1 called name, and its key,
// as PEM files cert and key; it returns the certificate.
func selfSigned(t *testing.T, name, cert, key string) *x509.Certificate {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	for path, blk := range map[string]*pem.Block{cert: {Type: "CERTIFICATE", Bytes: der}, key: {Type: "PRIVATE KEY", Bytes: pk}} {
		if err := os.WriteFile(path+".tmp", pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// servedCertName is the name in the certificate the TLS listener at addr
// presents now.
func servedCertName(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// The embedded broker on TLS only (mqtt.listen empty), a device on its own
// account over it, and a renewed certificate taken on SIGHUP.
func TestMQTTTLS_DeviceAccountOverTLS_CertReloadedOnSIGHUP(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := selfSigned(t, "cert-one", cert, key)
	tlsAddr := freePort(t)
	cfg := mqttRunConfig(t, dir, "", "hubd", "hub-pass-1", accountSpecs(), func(c *Config) {
		c.MQTT.TLSListen, c.MQTT.TLSCertFile, c.MQTT.TLSKeyFile = tlsAddr, cert, key
	})
	out, err := mqttAccountCmd(t, "create", "lamp-1", "-config", cfg)
	m := passwordRe.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	d := startDaemon(t, "run", "-config", cfg)

	roots := x509.NewCertPool()
	roots.AddCert(first)
	connect := func(pass string) error {
		c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + tlsAddr).SetClientID("lamp-tls").
			SetUsername("lamp-1").SetPassword(pass).SetTLSConfig(&tls.Config{RootCAs: roots}).SetConnectTimeout(3 * time.Second))
		tok := c.Connect()
		if !tok.WaitTimeout(5 * time.Second) {
			return os.ErrDeadlineExceeded
		}
		if tok.Error() == nil {
			c.Publish("tele/lamp-one/LWT", 1, false, "Online").WaitTimeout(3 * time.Second)
			c.Disconnect(0)
		}
		return tok.Error()
	}
	if err := connect(m[1]); err != nil {
		t.Fatalf("the device account over TLS: %v", err)
	}
	if err := connect("wrong"); err == nil {
		t.Error("a wrong password logged in over TLS")
	}
	eventually(t, 5*time.Second, "lamp-1 online from its TLS report", func() bool {
		return mustScrape(t, d.addr).sum("hubd_devices", `state="online"`) >= 1
	})

	selfSigned(t, "cert-two", cert, key)
	if got := servedCertName(t, tlsAddr); got != "cert-one" {
		t.Fatalf("before SIGHUP the listener presents %q", got)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the renewed certificate served", func() bool { return servedCertName(t, tlsAddr) == "cert-two" })

	// A broken pair is refused; the one in use stays.
	os.WriteFile(cert, []byte("not a certificate"), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "refusal logged", func() bool {
		return strings.Contains(d.out.String(), "MQTT TLS certificate not reloaded")
	})
	if got := servedCertName(t, tlsAddr); got != "cert-two" {
		t.Errorf("after a broken renewal the listener presents %q", got)
	}
}

// mqtt.limits reaches the broker: with max_connections 3, a fourth
// connection is closed at once, and a device gets in again once one goes.
func TestMQTTLimits_MaxConnectionsBites(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	dir := t.TempDir()
	broker := freePort(t)
	cfg := mqttRunConfig(t, dir, broker, "hubd", "hub-pass-1", accountSpecs(), func(c *Config) {
		c.MQTT.Limits.MaxConnections = 3
	})
	d := startDaemon(t, "run", "-config", cfg)
	var idle []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", broker)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	eventually(t, 5*time.Second, "a fourth connection closed by the broker", func() bool {
		c, err := net.Dial("tcp", broker)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err = c.Read(make([]byte, 1))
		return err != nil && !os.IsTimeout(err)
	})
	met := mustScrape(t, d.addr)
	if n := met.sum("hubd_mqtt_broker_connections_closed_total", `reason="max_connections"`); n < 1 {
		t.Errorf("connections closed at max_connections in /metrics = %v, want at least 1", n)
	}
	if n := met.sum("hubd_mqtt_broker_connections", `state="open"`); n != 3 {
		t.Errorf("open connections in /metrics = %v, want 3", n)
	}
	idle[0].Close()
	if c, err := mqttConnect(broker, "hub-tool", "hubd", "hub-pass-1", 5*time.Second); err != nil {
		t.Errorf("after one idle connection went: %v", err)
	} else {
		c.Disconnect(0)
	}
}

func TestConfig_MQTTBrokerOptionsChecked(t *testing.T) {
	base := "mqtt:\n  username: hubd\n  password: Zm9vYmFyYmF6cXV4cXV1eA\n"
	for _, tc := range []struct{ extra, want string }{
		{"  tls_listen: 0.0.0.0:8883\n", "needs tls_cert_file and tls_key_file"},
		{"  tls_listen: nope\n  tls_cert_file: c\n  tls_key_file: k\n", `mqtt.tls_listen "nope" is not host:port`},
		{"  tls_cert_file: c\n", "need tls_listen"},
		{"  limits:\n    max_connections: 16000\n", "leaves too few of the unit's 16384 open files"},
		{"  limits:\n    max_pending: -1\n", "mqtt.limits.max_pending -1 is negative"},
		{"  limits:\n    connect_timeout: 5m\n", "connect_timeout 5m0s is not within"},
		{"  limits:\n    session_expiry: 10s\n", "session_expiry 10s is shorter than 1m"},
		{"  broker: tcp://10.0.0.2:1883\n  limits:\n    max_pending: 5\n", "are for the embedded broker"},
	} {
		_, err := ParseConfig("x.yaml", []byte(base+tc.extra))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.extra, err, tc.want)
		}
	}
	ok := base + "  listen: \"\"\n  tls_listen: 0.0.0.0:8883\n  tls_cert_file: /etc/hubd/mqtt.pem\n  tls_key_file: /etc/hubd/mqtt.key\n" +
		"  limits: {max_connections: 2000, max_pending: 200, connect_timeout: 3s, queue_len: 100, max_queue_bytes: 1048576, max_queued_bytes: 16777216, max_away_sessions: 50, session_expiry: 1h}\n"
	c, err := ParseConfig("x.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.MQTT.Limits; l.MaxPending != 200 || l.SessionExpiry != time.Hour || l.MaxQueuedBytes != 16<<20 {
		t.Errorf("limits %+v", l)
	}
}
