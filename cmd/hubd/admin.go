package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"hubd/hub"
	"hubd/hub/web"
)

// The admin socket is how `hubd discover`, `hubd adopt` and `hubd forget`
// reach the running daemon: a Unix socket in the data directory, mode
// 0600, that also checks the peer's credentials: only root and the
// daemon's own user get through. It speaks small JSON requests over HTTP.
const adminSocket = "hubd.sock"

// maxAdminBody bounds a request on the admin socket.
const maxAdminBody = 16 << 10

func adminPath(dataDir string) string { return filepath.Join(dataDir, adminSocket) }

// ScanRequest is the body of POST /scan on the admin socket.
type ScanRequest struct {
	Bus  string `json:"bus"`
	From int    `json:"from"`
	To   int    `json:"to"`
}

// serveAdmin serves the admin socket until ctx ends.
func (a *Adoption) serveAdmin(ctx context.Context) error {
	path := adminPath(a.m.config().DataDir)
	os.Remove(path) // a stale socket of a killed daemon
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("admin socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /discovered", func(w http.ResponseWriter, r *http.Request) {
		out := []web.NewDevice{}
		for _, f := range a.New() {
			out = append(out, web.NewDeviceOf(f))
		}
		adminReply(w, out, nil)
	})
	mux.HandleFunc("GET /reported", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]reportedCaps{}
		for _, d := range a.m.Hub.Devices() {
			if c, ok := a.m.Hub.Reported(d.ID); ok {
				out[d.ID] = reportedCaps{Driver: d.Driver, Address: d.Address, Fields: uint16(c.Fields), TempMinK: c.TempMinK, TempMaxK: c.TempMaxK}
			}
		}
		adminReply(w, out, nil)
	})
	mux.HandleFunc("POST /adopt", func(w http.ResponseWriter, r *http.Request) {
		body, err := adminBody(r)
		var req web.AdoptRequest
		if err == nil {
			req, err = web.DecodeAdopt(body)
		}
		var d hub.Device
		if err == nil {
			d, err = a.Adopt(r.Context(), req)
		}
		adminReply(w, map[string]any{"id": d.ID, "room": d.Room, "capabilities": d.Fields.String()}, err)
	})
	mux.HandleFunc("POST /forget", func(w http.ResponseWriter, r *http.Request) {
		var req web.ForgetRequest
		err := adminJSON(r, &req)
		if err == nil {
			err = a.Forget(r.Context(), req.ID)
		}
		adminReply(w, map[string]string{"id": req.ID}, err)
	})
	mux.HandleFunc("POST /scan", func(w http.ResponseWriter, r *http.Request) {
		var req ScanRequest
		err := adminJSON(r, &req)
		var fs []hub.Found
		if err == nil {
			fs, err = a.Scan(r.Context(), req.Bus, req.From, req.To)
		}
		out := []web.NewDevice{}
		for _, f := range fs {
			out = append(out, web.NewDeviceOf(f))
		}
		adminReply(w, out, err)
	})
	srv := &http.Server{Handler: peerGuard(mux), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 5 * time.Minute,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, peerKey{}, c) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	err = srv.Serve(ln)
	<-done
	os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

type peerKey struct{}

// peerGuard refuses connections from users other than root and the
// daemon's own, whatever the socket file's mode says.
func peerGuard(next http.Handler) http.Handler {
	self := os.Getuid()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(peerKey{}).(*net.UnixConn)
		if c == nil || !peerAllowed(c, self) {
			http.Error(w, "hubd: admin socket: not allowed", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func peerAllowed(c *net.UnixConn, self int) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil || cerr != nil {
		return false
	}
	return cred.Uid == 0 || int(cred.Uid) == self
}

func adminBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", web.ErrBadRequest, err)
	}
	if len(b) > maxAdminBody {
		return nil, fmt.Errorf("%w: body over %d bytes", web.ErrBadRequest, maxAdminBody)
	}
	return b, nil
}

func adminJSON(r *http.Request, v any) error {
	b, err := adminBody(r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", web.ErrBadRequest, err)
	}
	return nil
}

// adminReply writes v, or err as {"error": ...} with a status that says
// whose fault it was.
func adminReply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, web.ErrBadRequest), errors.Is(err, hub.ErrInvalidDevice), errors.Is(err, hub.ErrNotSupported):
			code = http.StatusUnprocessableEntity
		case errors.Is(err, hub.ErrNotFound):
			code = http.StatusNotFound
		case errors.Is(err, hub.ErrBusy):
			code = http.StatusConflict
		}
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(v)
}

// adminCall sends one request to the daemon's admin socket and decodes
// the reply into out.
func adminCall(ctx context.Context, dataDir, method, path string, in, out any) error {
	sock := adminPath(dataDir)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://hubd"+path, body)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("no running hubd answers on %s (is the service running?): %w", sock, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return json.Unmarshal(b, out)
}
