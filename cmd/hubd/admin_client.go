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
)

// adminCall sends one request without a body to the daemon's admin socket
// and returns the answer's body. Its errors wrap errNoDaemon when nothing
// listens on the socket.
func adminCall(sock, method, path string) ([]byte, error) {
	return adminDo(context.Background(), sock, method, path, nil)
}

// adminRequest sends in (nil: no body) as JSON to the admin socket of the
// daemon on dataDir and decodes the answer into out.
func adminRequest(ctx context.Context, dataDir, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	b, err := adminDo(ctx, adminSocketPath(dataDir), method, path, body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// adminDo is one request on the admin socket. A scan of a whole bus takes
// minutes, so there is no timeout but ctx's.
func adminDo(ctx context.Context, sock, method, path string, body io.Reader) ([]byte, error) {
	cl := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true, // one request a call: no idle connection left holding a slot
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, method, "http://hubd"+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cl.Do(req)
	if err != nil {
		if ne := (*net.OpError)(nil); errors.As(err, &ne) && ne.Op == "dial" {
			err = fmt.Errorf("%w: %w", errNoDaemon, err)
		}
		return nil, fmt.Errorf("admin: can not reach the daemon at %s (is it running, and are you root or its user?): %w", sock, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("admin: the daemon answered %s", resp.Status)
	}
	return b, nil
}
