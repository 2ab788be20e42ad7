package broker

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
)

// certs is the TLS listener's certificate, swapped whole by ReloadTLS
// while handshakes read it.
type certs struct {
	certFile, keyFile string
	pair              atomic.Pointer[tls.Certificate]
}

// load reads the pair from its files; on an error the one in use stays.
func (c *certs) load() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTLS, err)
	}
	c.pair.Store(&pair)
	return nil
}

func (c *certs) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.pair.Load(), nil }

// listenTLS binds Options.TLSListen with the pair from TLSCert and
// TLSKey.
func listenTLS(opts Options) (net.Listener, *certs, error) {
	if opts.TLSCert == "" || opts.TLSKey == "" {
		return nil, nil, fmt.Errorf("%w: TLSListen %s needs TLSCert and TLSKey", ErrTLS, opts.TLSListen)
	}
	c := &certs{certFile: opts.TLSCert, keyFile: opts.TLSKey}
	if err := c.load(); err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", opts.TLSListen)
	if err != nil {
		return nil, nil, fmt.Errorf("broker: listen on %s: %w", opts.TLSListen, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get}
	return tls.NewListener(ln, cfg), c, nil
}

// ReloadTLS reads the TLS listener's certificate and key files again
// (after a renewal; the daemon calls it on SIGHUP): handshakes from then
// on use the new pair, connections up keep theirs. If the files do not
// hold a valid pair the one in use stays and the error says why. It
// returns ErrTLS without a TLS listener.
func (b *Broker) ReloadTLS() error {
	if b.certs == nil {
		return fmt.Errorf("%w: no TLS listener", ErrTLS)
	}
	if err := b.certs.load(); err != nil {
		return err
	}
	b.log.Info("TLS certificate reloaded", "cert", b.certs.certFile)
	return nil
}

// TLSAddr is the bound address of the TLS listener, or "" without one.
func (b *Broker) TLSAddr() string {
	if b.tlsLn == nil {
		return ""
	}
	return b.tlsLn.Addr().String()
}
