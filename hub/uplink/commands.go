package uplink

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/hub"
)

// maxCommandSize bounds a command payload.
const maxCommandSize = 4 << 10

// commandMsg is a command from the fleet, in the shape Home Assistant's
// JSON-schema light sends, plus a correlation id and a timestamp.
type commandMsg struct {
	ID         string     `json:"id"`
	At         *time.Time `json:"at"`
	State      *string    `json:"state"`      // ON or OFF
	Brightness *int       `json:"brightness"` // percent
	Color      *struct {
		H int  `json:"h"`
		S int  `json:"s"`
		V *int `json:"v"`
	} `json:"color"`
	ColorTemp *int `json:"color_temp"` // kelvin
}

// resultMsg answers a command on the device's result topic.
type resultMsg struct {
	V       int         `json:"v"`
	ID      string      `json:"id,omitempty"`
	Device  string      `json:"device"`
	At      time.Time   `json:"at"`
	Status  string      `json:"status"` // done, error or refused
	Error   string      `json:"error,omitempty"`
	Results []capResult `json:"results,omitempty"`
}

// capResult is one capability's outcome, as in a Yandex action answer.
type capResult struct {
	Capability   string `json:"capability"`
	Status       string `json:"status"` // DONE or ERROR
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
}

// errorCodes maps hub.ResultOf to the Yandex action error codes.
var errorCodes = map[string]string{
	"not_found":     "DEVICE_NOT_FOUND",
	"unreachable":   "DEVICE_UNREACHABLE",
	"not_supported": "NOT_SUPPORTED_IN_CURRENT_MODE",
	"invalid_value": "INVALID_VALUE",
	"busy":          "DEVICE_BUSY",
	"error":         "INTERNAL_ERROR",
}

func (u *Uplink) subscribeCommands() {
	if !u.connected.Load() {
		return
	}
	u.client.Subscribe(u.topics.commandFilter(), 1, func(_ paho.Client, m paho.Message) {
		select {
		case u.commands <- m:
		default:
			u.refuse(m, "", "busy: too many commands waiting")
		}
	})
}

// runCommands executes queued commands until ctx ends.
func (u *Uplink) runCommands(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-u.commands:
			u.command(ctx, m)
		}
	}
}

// command checks, executes and answers one command message.
func (u *Uplink) command(ctx context.Context, m paho.Message) {
	id, ok := u.topics.commandDevice(m.Topic())
	if !ok {
		return
	}
	cmd, corr, err := u.checkCommand(m, id)
	if err != nil {
		u.refuse(m, corr, err.Error())
		return
	}
	u.count(true)
	err = u.opts.Hub.Execute(ctx, cmd)
	res := resultMsg{V: Version, ID: corr, Device: id, At: time.Now().UTC(), Status: "done"}
	if err != nil {
		res.Status, res.Error = "error", err.Error()
	} else {
		// Who pressed what: the hub logs failed commands itself.
		u.opts.Hub.Log("info", "uplink", id, fmt.Sprintf("fleet command %q set %s", corr, cmd.Set.Set))
	}
	for _, f := range cmd.Set.Set.List() {
		r := capResult{Capability: f.String(), Status: "DONE"}
		if err != nil {
			r.Status, r.ErrorCode, r.ErrorMessage = "ERROR", errorCodes[hub.ResultOf(err)], err.Error()
		}
		res.Results = append(res.Results, r)
	}
	u.publishResult(id, res)
}

// checkCommand decodes a command and applies the rules: commands on, not
// retained, not older than MaxCommandAge. The correlation id is returned
// whenever the payload carried one, so a refusal can name it.
func (u *Uplink) checkCommand(m paho.Message, id string) (hub.Command, string, error) {
	c, err := decodeCommand(m.Payload())
	if err != nil {
		return hub.Command{}, "", err
	}
	switch {
	case !u.opts.Commands:
		return hub.Command{}, c.ID, errorf(ErrRefused, "commands are off on this gateway (uplink.commands)")
	case m.Retained():
		return hub.Command{}, c.ID, errorf(ErrRefused, "the command was retained; commands are never replayed")
	case c.At != nil && time.Since(*c.At) > u.opts.MaxCommandAge:
		return hub.Command{}, c.ID, errorf(ErrRefused, "the command is %v old, over %v", time.Since(*c.At).Round(time.Millisecond), u.opts.MaxCommandAge)
	}
	cmd, err := c.command(id, u.opts.Hub)
	return cmd, c.ID, err
}

// decodeCommand decodes a command payload, refusing one over
// maxCommandSize.
func decodeCommand(payload []byte) (commandMsg, error) {
	var c commandMsg
	if len(payload) > maxCommandSize {
		return c, errorf(ErrBadCommand, "payload of %d bytes is over %d", len(payload), maxCommandSize)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, errorf(ErrBadCommand, "payload: %w", err)
	}
	return c, nil
}

// command turns the message into a hub command for device id.
func (c *commandMsg) command(id string, h *hub.Hub) (hub.Command, error) {
	cmd := hub.Command{Device: id, Source: "uplink"}
	s := &cmd.Set
	if c.State != nil {
		switch strings.ToUpper(*c.State) {
		case "ON":
			s.On = true
		case "OFF":
		default:
			return cmd, errorf(ErrBadCommand, "state %q is not ON or OFF", *c.State)
		}
		s.Set = s.Set.With(hub.FieldOn)
	}
	if c.Brightness != nil {
		s.Brightness, s.Set = *c.Brightness, s.Set.With(hub.FieldBrightness)
	}
	if c.ColorTemp != nil {
		s.TemperatureK, s.Set, s.Mode = *c.ColorTemp, s.Set.With(hub.FieldTemperatureK), hub.ColorModeTemperature
	}
	if c.Color != nil {
		s.Color = hub.HSV{H: c.Color.H, S: c.Color.S, V: 100}
		if c.Color.V != nil {
			s.Color.V = *c.Color.V
		} else if c.Brightness != nil {
			s.Color.V = *c.Brightness
		} else if _, snap, ok := h.Snapshot(id); ok && snap.State.Set.Has(hub.FieldColor) {
			s.Color.V = snap.State.Color.V
		}
		s.Set, s.Mode = s.Set.With(hub.FieldColor), hub.ColorModeHSV
	}
	if s.Set.Empty() {
		return cmd, errorf(ErrBadCommand, "nothing to set (state, brightness, color or color_temp)")
	}
	return cmd, nil
}

// refuse logs a refused command, as an event, and answers it.
func (u *Uplink) refuse(m paho.Message, corr, why string) {
	id, _ := u.topics.commandDevice(m.Topic())
	u.count(false)
	u.log.Warn("uplink: command refused", "topic", m.Topic(), "id", corr, "why", why)
	u.opts.Hub.Log("warn", "uplink", id, fmt.Sprintf("command refused: %s", why))
	u.publishResult(id, resultMsg{V: Version, ID: corr, Device: id, At: time.Now().UTC(), Status: "refused", Error: why})
}

func (u *Uplink) publishResult(id string, r resultMsg) {
	u.publish(u.topics.device(id, leafResult), false, mustJSON(r))
}

func (u *Uplink) count(accepted bool) {
	u.mu.Lock()
	if accepted {
		u.status.CommandsAccepted++
	} else {
		u.status.CommandsRefused++
	}
	u.mu.Unlock()
}
