package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"hubd/drivers/serial"
	"hubd/hub"
	"hubd/hub/web"
)

// The admin socket is how local commands (`hubd home ...`, `hubd
// mqtt-account ...`, `hubd discover|adopt|forget`) reach the running daemon (the store is locked while it
// runs): HTTP over a unix socket in the data
// directory. The directory is 0700 and the socket 0600, both the daemon's
// user's, and the daemon also checks the peer's uid (SO_PEERCRED): only
// root and the daemon's own user get through. The uid names who did what
// in the event log.
const adminSocketName = "admin.sock"

// errAdminPeer is returned when a process of another user reaches the
// admin socket.
var errAdminPeer = errors.New("admin: only root and the daemon's user may use the admin socket")

// defaultAdminConns is the admin socket's connection bound when
// Main.AdminMaxConns is zero: `hubd home` opens one at a time.
const defaultAdminConns = 4

// maxSocketPath is the longest path a Unix socket address takes (108
// bytes on Linux, with its NUL).
const maxSocketPath = 107

// errNoMQTTSection is returned by the admin socket's MQTT account calls
// on a daemon without an mqtt section.
var errNoMQTTSection = errors.New("admin: this daemon has no mqtt section")

func adminSocketPath(dataDir string) string { return filepath.Join(dataDir, adminSocketName) }

// limitListener closes connections beyond max at once, counting them,
// rather than letting them wait in the kernel's backlog.
type limitListener struct {
	net.Listener
	slots   chan struct{}
	refused *atomic.Uint64
	log     *slog.Logger
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, slots: l.slots}, nil
		default:
			n := l.refused.Add(1)
			l.log.Warn("admin socket: connection refused, too many open", "max", cap(l.slots), "refused_total", n)
			c.Close()
		}
	}
}

type limitConn struct {
	net.Conn
	slots chan struct{}
	once  sync.Once
}

func (c *limitConn) Close() error {
	c.once.Do(func() { <-c.slots })
	return c.Conn.Close()
}

type connKey struct{}

// startAdmin serves the admin socket until stop is called.
func (m *Main) startAdmin(dataDir string) (stop func(), err error) {
	path := adminSocketPath(dataDir)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("admin: socket path %s is longer than %d bytes", path, maxSocketPath)
	}
	// A socket left by a daemon that was killed: the store's lock says
	// that no other daemon runs on this directory.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin: %w", err)
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	maxConns := m.AdminMaxConns
	if maxConns <= 0 {
		maxConns = defaultAdminConns
	}
	ln = &limitListener{Listener: ln, slots: make(chan struct{}, maxConns), refused: &m.adminRefused, log: m.Log}
	srv := &http.Server{
		Handler:           m.adminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       10 * time.Second, // a kept-alive CLI connection holds a slot
		MaxHeaderBytes:    8 << 10,
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
		os.Remove(path)
	}, nil
}

// peerName names the process at the other end of r's connection, or
// fails when its user may not administer the daemon.
func peerName(r *http.Request) (string, error) {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if lc, ok := c.(*limitConn); ok {
		c = lc.Conn
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return "", errAdminPeer
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return "", err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return "", fmt.Errorf("admin: peer credentials: %w", errors.Join(err, cerr))
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Getuid() {
		return "", fmt.Errorf("%w (uid %d)", errAdminPeer, cred.Uid)
	}
	name := strconv.Itoa(int(cred.Uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return "cli:" + name, nil
}

func (m *Main) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /homes", func(w http.ResponseWriter, r *http.Request) {
		m.admin(w, r, func(string) (any, error) { return m.Residents.List() })
	})
	mux.HandleFunc("POST /homes/{id}/login", func(w http.ResponseWriter, r *http.Request) {
		m.admin(w, r, func(by string) (any, error) { return m.Residents.SetLogin(r.PathValue("id"), by) })
	})
	mux.HandleFunc("POST /homes/{id}/checkout", func(w http.ResponseWriter, r *http.Request) {
		m.admin(w, r, func(by string) (any, error) { return m.Residents.CheckOut(r.PathValue("id"), by) })
	})
	m.adminMQTTAccounts(mux)
	m.adminDiscovery(mux)
	m.adminCommission(mux)
	return mux
}

// adminMQTTAccounts routes `hubd mqtt-account`: list, create or rotate a
// device account's password, delete it.
func (m *Main) adminMQTTAccounts(mux *http.ServeMux) {
	adm := func() (accountAdmin, error) {
		if m.mqttCreds == nil {
			return accountAdmin{}, errNoMQTTSection
		}
		return accountAdmin{creds: m.mqttCreds, accounts: m.config().mqttAccounts}, nil
	}
	mux.HandleFunc("GET /mqtt-accounts", func(w http.ResponseWriter, r *http.Request) {
		m.admin(w, r, func(string) (any, error) {
			a, err := adm()
			if err != nil {
				return nil, err
			}
			return a.list()
		})
	})
	mux.HandleFunc("POST /mqtt-accounts/{name}/{op}", func(w http.ResponseWriter, r *http.Request) {
		op := r.PathValue("op")
		if op != "create" && op != "rotate" {
			http.NotFound(w, r)
			return
		}
		m.admin(w, r, func(by string) (any, error) {
			a, err := adm()
			if err != nil {
				return nil, err
			}
			info, err := a.setPassword(r.PathValue("name"), op == "rotate")
			if err == nil {
				m.auditAccount(info.Name, op+"d", by)
			}
			return info, err
		})
	})
	mux.HandleFunc("DELETE /mqtt-accounts/{name}", func(w http.ResponseWriter, r *http.Request) {
		m.admin(w, r, func(by string) (any, error) {
			a, err := adm()
			if err != nil {
				return nil, err
			}
			info, err := a.remove(r.PathValue("name"))
			if err == nil {
				m.auditAccount(info.Name, "deleted", by)
			}
			return info, err
		})
	})
}

// auditAccount records a change of an account's password in the journal
// and the status page's events, with who made it.
func (m *Main) auditAccount(name, what, by string) {
	m.Log.Info("MQTT account password "+what, "account", name, "by", by)
	m.Hub.Log("info", "hubd", "", "MQTT account "+name+": password "+what+" by "+by)
	if what != "created" && m.MQTT != nil {
		m.MQTT.DisconnectAccount(name)
	}
}

// admin runs one admin request as its peer and answers JSON.
func (m *Main) admin(w http.ResponseWriter, r *http.Request, fn func(by string) (any, error)) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	by, err := peerName(r)
	var out any
	if err == nil {
		out, err = fn(by)
	}
	status := http.StatusOK
	switch {
	case errors.Is(err, errAdminPeer):
		status = http.StatusForbidden
	case errors.Is(err, hub.ErrNotHome), errors.Is(err, errNoMQTTAccount), errors.Is(err, errNoMQTTSection),
		errors.Is(err, hub.ErrNotFound), errors.Is(err, errDiscoveryOff):
		status = http.StatusNotFound
	case errors.Is(err, web.ErrBadRequest), errors.Is(err, hub.ErrInvalidDevice), errors.Is(err, hub.ErrNotSupported),
		errors.Is(err, serial.ErrConfig), errors.Is(err, hub.ErrInvalidValue):
		status = http.StatusUnprocessableEntity
	case errors.Is(err, hub.ErrBusy):
		status = http.StatusConflict
	case errors.Is(err, errMQTTAccountExists), errors.Is(err, errMQTTAccountNoPassword):
		status = http.StatusConflict
	case err != nil:
		status = http.StatusInternalServerError
	}
	if err != nil {
		m.Log.Warn("admin request failed", "path", r.URL.Path, "by", by, "err", err)
		out = map[string]string{"error": err.Error()}
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(out)
}
