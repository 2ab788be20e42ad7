package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// The admin channel: while the daemon runs it holds the store (bbolt
// locks the file), so local commands such as `hubd mqtt-account` ask it
// over a Unix socket in the data directory. The socket is mode 0600 and
// each connection's peer is checked (SO_PEERCRED): only root and the
// daemon's own user may use it, which are the users that could open the
// store directly anyway. Nothing of it is reachable over the network.
const adminSocketName = "admin.sock"

// maxSocketPath is the longest path a Unix socket address takes (108
// bytes on Linux, with its NUL).
const maxSocketPath = 107

func adminSocketPath(dataDir string) string { return filepath.Join(dataDir, adminSocketName) }

type peerKey struct{}

// startAdmin serves the admin socket until ctx ends. A socket that cannot
// be opened is logged, not fatal: the daemon's real work goes on, and the
// commands say that they cannot reach it.
func (m *Main) startAdmin(ctx context.Context) {
	path := adminSocketPath(m.config().DataDir)
	ln, err := listenAdmin(path)
	if err != nil {
		m.Log.Warn("admin socket not available: local commands cannot reach the daemon", "path", path, "err", err)
		return
	}
	srv := &http.Server{
		Handler:           m.adminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerKey{}, peerUID(c))
		},
		ErrorLog: slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn),
	}
	m.wg.Add(2)
	go func() { defer m.wg.Done(); _ = srv.Serve(ln) }()
	go func() {
		defer m.wg.Done()
		<-ctx.Done()
		srv.Close()
		os.Remove(path)
	}()
}

func listenAdmin(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("path longer than %d bytes", maxSocketPath)
	}
	// A socket left by a daemon that was killed: the store's lock says no
	// other daemon runs on this directory.
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == fs.ModeSocket {
		os.Remove(path)
	}
	old := unix.Umask(0o177)
	ln, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, err
	}
	return ln, nil
}

// peerUID is the user id of the process at the other end of c; -1 when
// unknown.
func peerUID(c net.Conn) int {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1
	}
	uid := -1
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			uid = int(cred.Uid)
		}
	})
	return uid
}

// adminHandler routes the admin requests, for root and the daemon's user.
func (m *Main) adminHandler() http.Handler {
	mux := http.NewServeMux()
	adm := func() accountAdmin {
		return accountAdmin{creds: m.mqttCreds, accounts: m.config().mqttAccounts}
	}
	mux.HandleFunc("GET /mqtt-accounts", func(w http.ResponseWriter, r *http.Request) {
		list, err := adm().list()
		adminReply(w, list, err)
	})
	mux.HandleFunc("POST /mqtt-accounts/{name}/{op}", func(w http.ResponseWriter, r *http.Request) {
		op := r.PathValue("op")
		if op != "create" && op != "rotate" {
			http.NotFound(w, r)
			return
		}
		info, err := adm().setPassword(r.PathValue("name"), op == "rotate")
		if err == nil {
			m.auditAccount(info.Name, op+"d")
		}
		adminReply(w, info, err)
	})
	mux.HandleFunc("DELETE /mqtt-accounts/{name}", func(w http.ResponseWriter, r *http.Request) {
		info, err := adm().remove(r.PathValue("name"))
		if err == nil {
			m.auditAccount(info.Name, "deleted")
		}
		adminReply(w, info, err)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, _ := r.Context().Value(peerKey{}).(int)
		if uid != 0 && uid != os.Getuid() {
			http.Error(w, fmt.Sprintf("admin: user %d may not administer hubd (root or the daemon's user only)", uid), http.StatusForbidden)
			return
		}
		if m.mqttCreds == nil {
			http.Error(w, "admin: this daemon has no mqtt section", http.StatusNotFound)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// auditAccount records a change of an account's password in the journal
// and the status page's events.
func (m *Main) auditAccount(name, what string) {
	m.Log.Info("MQTT account password "+what, "account", name)
	m.Hub.Log("info", "hubd", "", "MQTT account "+name+": password "+what)
}

// adminReply writes v as JSON, or err with its status.
func adminReply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, errNoMQTTAccount):
			code = http.StatusNotFound
		case errors.Is(err, errMQTTAccountExists), errors.Is(err, errMQTTAccountNoPassword):
			code = http.StatusConflict
		}
		http.Error(w, err.Error(), code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
