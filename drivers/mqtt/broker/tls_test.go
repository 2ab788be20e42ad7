package broker

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// writeCert writes a new self-signed certificate for 127.0.0.1, named
// cn, and its key to cert.pem and key.pem in dir; it returns the
// certificate.
func writeCert(t *testing.T, dir, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert.pem", "CERTIFICATE", der)
	write("key.pem", "EC PRIVATE KEY", kder)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// startTLS runs a broker that speaks TLS only, with a new certificate.
func startTLS(t *testing.T) (*Broker, *x509.Certificate, string) {
	t.Helper()
	dir := t.TempDir()
	cert := writeCert(t, dir, "one")
	b, _ := start(t, func(o *Options) {
		o.Listen = ""
		o.TLSListen = "127.0.0.1:0"
		o.TLSCert, o.TLSKey = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	})
	return b, cert, dir
}

// trusting is a TLS client configuration that trusts certs only.
func trusting(certs ...*x509.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// A real client over TLS publishes and subscribes through a broker that
// speaks TLS only; it has no plain listener.
func TestBroker_TLS_PahoClientsPublishAndSubscribe(t *testing.T) {
	b, cert, _ := startTLS(t)
	if b.Addr() != "" {
		t.Errorf("a TLS-only broker has a plain listener on %s", b.Addr())
	}
	tlsClient := func(id string) paho.Client {
		return pahoClient(t, b, id, func(o *paho.ClientOptions) {
			o.Servers = nil
			o.AddBroker("ssl://" + b.TLSAddr()).SetTLSConfig(trusting(cert))
		})
	}
	ch := collect(t, tlsClient("sub"), "t/#", 1)
	if tok := tlsClient("pub").Publish("t/1", 1, false, "over TLS"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	if g := wait(t, ch); g.payload != "over TLS" {
		t.Errorf("got %+v", g)
	}
}

// A client that speaks MQTT without TLS to the TLS listener gets no
// CONNACK: it is closed, and nothing it sent reaches anyone.
func TestBroker_TLS_PlainClientRefused(t *testing.T) {
	b, _, _ := startTLS(t)
	c, err := net.Dial("tcp", b.TLSAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
	r.send(connectSpec{id: "plain", clean: true}.packet())
	if h, _, err := r.tryNext(5 * time.Second); err == nil && h == 0x20 {
		t.Fatal("a plain CONNECT on the TLS listener got a CONNACK")
	}
	if b.Stats().Clients != 0 {
		t.Error("a plain client was admitted")
	}
	if err := b.ReloadTLS(); err != nil {
		t.Errorf("reload of unchanged files: %v", err)
	}
}

// peer is the certificate the TLS listener shows a new connection.
func peer(t *testing.T, b *Broker, trust ...*x509.Certificate) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", b.TLSAddr(), trusting(trust...))
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// ReloadTLS swaps the certificate for new handshakes; files that do not
// hold a pair leave the one in use, and say why.
func TestBroker_ReloadTLS_NewHandshakesUseTheNewPair(t *testing.T) {
	b, one, dir := startTLS(t)
	if got := peer(t, b, one); got.Subject.CommonName != "one" {
		t.Fatalf("peer %s", got.Subject.CommonName)
	}
	two := writeCert(t, dir, "two")
	if err := b.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if got := peer(t, b, two); got.Subject.CommonName != "two" {
		t.Errorf("after reload the peer is %s, want two", got.Subject.CommonName)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.ReloadTLS(); !errors.Is(err, ErrTLS) {
		t.Errorf("reload of a broken key: %v, want ErrTLS", err)
	}
	if got := peer(t, b, two); got.Subject.CommonName != "two" {
		t.Errorf("after a failed reload the peer is %s, want two", got.Subject.CommonName)
	}
	plain, _ := start(t, nil)
	if err := plain.ReloadTLS(); !errors.Is(err, ErrTLS) {
		t.Errorf("reload without a TLS listener: %v", err)
	}
}

// New refuses a TLS listener without a usable pair.
func TestNew_TLSWithoutAPair_Refused(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{TLSListen: "127.0.0.1:0"},
		{TLSListen: "127.0.0.1:0", TLSCert: filepath.Join(dir, "none.pem"), TLSKey: filepath.Join(dir, "none.pem")},
	} {
		if b, err := New(o); !errors.Is(err, ErrTLS) {
			if b != nil {
				b.Close()
			}
			t.Errorf("%+v: %v, want ErrTLS", o, err)
		}
	}
}

// Mosquitto's own clients over TLS: mosquitto_sub is told its filter is
// denied (SUBACK 0x80) by CanSubscribe, and gets what mosquitto_pub
// publishes on the filter it may read.
func TestBroker_TLS_MosquittoClientsAndADeniedFilter(t *testing.T) {
	sub, pub := mosquittoClients(t)
	dir := t.TempDir()
	writeCert(t, dir, "one")
	b, _ := start(t, func(o *Options) {
		o.Listen = ""
		o.TLSListen = "127.0.0.1:0"
		o.TLSCert, o.TLSKey = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		o.CanSubscribe = onlyOwn
	})
	host, port, _ := net.SplitHostPort(b.TLSAddr())
	args := func(id string, extra ...string) []string {
		return append([]string{"-h", host, "-p", port, "--cafile", filepath.Join(dir, "cert.pem"), "-i", id, "-V", "mqttv311"}, extra...)
	}
	// mosquitto_sub says so and stops (with status 0).
	out, err := exec.Command(sub, args("lamp", "-t", "cmnd/plug/#", "-W", "5")...).CombinedOutput()
	if !strings.Contains(string(out), "All subscription requests were denied") {
		t.Errorf("mosquitto_sub on a denied filter: %v: %s", err, out)
	}
	cmd := exec.Command(sub, args("lamp", "-t", "cmnd/lamp/#", "-q", "1", "-v", "-C", "1", "-W", "10")...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mosquitto_sub subscribed", func() bool { return subscribed(b, "cmnd/lamp/#") })
	if out, err := exec.Command(pub, args("hub", "-t", "cmnd/lamp/POWER", "-m", "ON", "-q", "1")...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub over TLS: %v: %s", err, out)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v: %s", err, stdout.String())
	}
	if got := stdout.String(); got != "cmnd/lamp/POWER ON\n" {
		t.Errorf("mosquitto_sub printed %q", got)
	}
}
