package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"hubd/hub"
)

// CommandRequest is the body of POST /api/devices/{id}/command. Exactly one
// action: switch (on), dim (brightness), or identify.
type CommandRequest struct {
	On         *bool `json:"on,omitempty"`
	Brightness *int  `json:"brightness,omitempty"`
	Identify   bool  `json:"identify,omitempty"`
}

// CommandResult is the reply to a control.
type CommandResult struct {
	Device string `json:"device"`
	Action string `json:"action"`
	Result string `json:"result"` // "ok", "unreachable", ... (hub.ResultOf)
	Error  string `json:"error,omitempty"`
	TookMS int64  `json:"took_ms"`
}

// DecodeCommand parses a control body into a command for device id. It
// refuses unknown fields, trailing data, empty and mixed actions, and
// brightness outside 0..100, each with an error wrapping ErrBadRequest.
func DecodeCommand(id string, body []byte) (hub.Command, string, error) {
	var req CommandRequest
	if len(body) > maxBody {
		return hub.Command{}, "", fmt.Errorf("%w: body is over %d bytes", ErrBadRequest, maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return hub.Command{}, "", fmt.Errorf("%w: command body: %v", ErrBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return hub.Command{}, "", fmt.Errorf("%w: command body: trailing data", ErrBadRequest)
	}
	cmd := hub.Command{Device: id}
	n := 0
	var action string
	if req.On != nil {
		n++
		cmd.Set.Set = cmd.Set.Set.With(hub.FieldOn)
		cmd.Set.On = *req.On
		action = "off"
		if *req.On {
			action = "on"
		}
	}
	if req.Brightness != nil {
		n++
		b := *req.Brightness
		if b < 0 || b > 100 {
			return hub.Command{}, "", fmt.Errorf("%w: brightness %d is outside 0..100", ErrBadRequest, b)
		}
		cmd.Set.Set = cmd.Set.Set.With(hub.FieldBrightness)
		cmd.Set.Brightness = b
		action = fmt.Sprintf("brightness %d%%", b)
	}
	if req.Identify {
		n++
		cmd.Identify = true
		action = "identify"
	}
	switch {
	case n == 0:
		return hub.Command{}, "", fmt.Errorf("%w: no action: send on, brightness or identify", ErrBadRequest)
	case n > 1:
		return hub.Command{}, "", fmt.Errorf("%w: one action at a time", ErrBadRequest)
	}
	return cmd, action, nil
}

// limitBody caps r's body at max bytes. A body announced as larger is
// refused with ErrTooLarge before a byte of it is read, so a client can not
// hold the request open by promising one; otherwise r.Body is replaced by a
// reader that fails with *http.MaxBytesError past max, which also covers
// chunked bodies that announce no length.
func limitBody(w http.ResponseWriter, r *http.Request, max int64) error {
	if r.ContentLength > max {
		return fmt.Errorf("%w: body of %d bytes is over %d", ErrTooLarge, r.ContentLength, max)
	}
	r.Body = http.MaxBytesReader(w, r.Body, max)
	return nil
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := limitBody(w, r, maxBody); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fmt.Errorf("%w: body is over %d bytes", ErrTooLarge, maxBody)
		}
		return nil, fmt.Errorf("%w: reading body: %v", ErrBadRequest, err)
	}
	return b, nil
}

func (s *Server) serveCommand(w http.ResponseWriter, r *http.Request) {
	user, _, err := s.control(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if _, ok := s.h.Device(id); !ok {
		s.writeError(w, r, fmt.Errorf("%w: %q", hub.ErrNotFound, id))
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cmd, action, err := DecodeCommand(id, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cmd.Source = "web:" + user
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CommandTimeout)
	defer cancel()
	start := time.Now()
	err = s.h.Execute(ctx, cmd)
	took := time.Since(start)
	res := CommandResult{Device: id, Action: action, Result: hub.ResultOf(err), TookMS: took.Milliseconds()}
	s.log.Info("web: control", "user", user, "device", id, "action", action, "result", res.Result, "took", took)
	s.h.LogEvent(controlEvent(level(err), id, user, action, res.Result, err))
	code := http.StatusOK
	if err != nil {
		res.Error = err.Error()
		code = errorStatus(err)
	}
	writeJSON(w, code, res)
}

func level(err error) string {
	if err != nil {
		return "warn"
	}
	return "info"
}

// controlEvent records a control run from the page: the page words it
// from the code ("control") and params; Text stays for logs.
func controlEvent(lvl, device, user, action, result string, err error) hub.Event {
	ev := hub.Event{Level: lvl, Source: "web", Device: device, Code: "control",
		Params: map[string]string{"user": user, "action": action, "result": result},
		Text:   fmt.Sprintf("%s by %s: %s", action, user, result)}
	if device != "" {
		ev.Text = device + ": " + ev.Text
	}
	if err != nil {
		ev.Raw = err.Error()
	}
	return ev
}
