package uplink_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub/uplink"
	"hubd/store"
)

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, as PEM files.
type pki struct {
	dir                    string
	ca, srvCert, srvKey    string
	cliCert, cliKey, other string // other: a CA that signed nothing here
}

func newPKI(t *testing.T) pki {
	t.Helper()
	p := pki{dir: t.TempDir()}
	caKey, caCert := newCert(t, "hubd test CA", nil, nil, true)
	p.ca = writePEM(t, p.dir, "ca.pem", "CERTIFICATE", caCert.Raw)
	srvKey, srv := newCert(t, "127.0.0.1", caCert, caKey, false)
	p.srvCert = writePEM(t, p.dir, "server.pem", "CERTIFICATE", srv.Raw)
	p.srvKey = writeKey(t, p.dir, "server.key", srvKey)
	cliKey, cli := newCert(t, "gw1", caCert, caKey, false)
	p.cliCert = writePEM(t, p.dir, "client.pem", "CERTIFICATE", cli.Raw)
	p.cliKey = writeKey(t, p.dir, "client.key", cliKey)
	_, other := newCert(t, "another CA", nil, nil, true)
	p.other = writePEM(t, p.dir, "other-ca.pem", "CERTIFICATE", other.Raw)
	return p
}

func newCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        ca, BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t *testing.T, dir, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "EC PRIVATE KEY", der)
}

// tlsBroker runs Mosquitto with its plain loopback listener (for the
// test's subscriber) and a TLS listener that requires a client
// certificate; it returns the ssl:// URL.
func tlsBroker(t *testing.T, p pki) (*mosquittotest.Broker, string) {
	t.Helper()
	port := mosquittotest.FreePort(t)
	b := mosquittotest.StartConfig(t, fmt.Sprintf("user root\nallow_anonymous true\npersistence false\n"+
		"listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n", port, p.ca, p.srvCert, p.srvKey))
	return b, fmt.Sprintf("ssl://127.0.0.1:%d", port)
}

func TestUplink_TLS_MutualCertificates(t *testing.T) {
	p := newPKI(t)
	b, ssl := tlsBroker(t, p)
	w := watch(t, b.URL(), root+"/status", "", true)
	newFixture(t, ssl, uplink.Options{QoS: 1, CAFile: p.ca, CertFile: p.cliCert, KeyFile: p.cliKey}, store.QueueOptions{})
	w.nextWhere(t, root+"/status", func(v map[string]any) bool { return v["status"] == "online" })
}

// The refused sides: no client certificate (the broker refuses the
// gateway), and a broker certificate from another CA (the gateway refuses
// the broker). Neither ever connects; each says why.
func TestUplink_TLS_RefusedWithoutTheRightCertificates(t *testing.T) {
	p := newPKI(t)
	_, ssl := tlsBroker(t, p)
	for name, c := range map[string]struct {
		o    uplink.Options
		says []string // any of
	}{
		// TLS 1.3: the broker checks the certificate after the client's
		// handshake is done, so its refusal is the alert or a reset.
		"no client certificate": {uplink.Options{QoS: 1, CAFile: p.ca}, []string{"certificate required", "reset by peer", "broken pipe"}},
		"broker of another CA":  {uplink.Options{QoS: 1, CAFile: p.other, CertFile: p.cliCert, KeyFile: p.cliKey}, []string{"unknown authority"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, ssl, c.o, store.QueueOptions{})
			waitFor(t, "a failed connect", func() bool { return f.up.Status().LastError != "" })
			st := f.up.Status()
			if st.Connected || st.Connects != 0 {
				t.Fatalf("connected without the right certificates: %+v", st)
			}
			if !slices.ContainsFunc(c.says, func(s string) bool { return strings.Contains(st.LastError, s) }) {
				t.Fatalf("last error %q says none of %q", st.LastError, c.says)
			}
		})
	}
}
