package firmware

import (
	"errors"
	"time"

	"hubd/firmware/wire"
)

// logic is what differs between a lamp and a socket. Its methods are called
// with the device's core.mu held.
type logic interface {
	info() wire.Info
	// settable is the fields SET_STATE may change.
	settable() wire.Fields
	state(now time.Time) wire.State
	// set applies a validated partial state; it returns an ERROR reply
	// code and detail, or code 0 on success.
	set(s wire.State, now time.Time) (code, detail uint8)
	// news reports whether something changed that the master has not seen.
	news(now time.Time) bool
	// reported records that the state just sent is what the master knows.
	reported(s wire.State)
	// changedUnseen marks news: the state changed in a way no reply told
	// the master (a broadcast SET_STATE, which is never answered).
	changedUnseen()
	// restart power-cycles the device: RAM lost, settings back from flash,
	// the bootloader run.
	restart(now time.Time)
	// shutdown saves what RAM holds before a planned reboot.
	shutdown(now time.Time)
}

// handle runs one request through the device: duplicate detection, then
// the command. Broadcast requests act but never answer.
func (c *core) handle(l logic, req wire.Frame, now time.Time) (wire.Frame, bool) {
	if req.Cmd.IsReply() {
		return wire.Frame{}, false // another device's reply on the shared line
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Before(c.fw.bootUntil) {
		return wire.Frame{}, false // rebooting: deaf and mute
	}
	if req.Addr == wire.Broadcast {
		switch req.Cmd {
		case wire.CmdSetState, wire.CmdBlink:
			resp := c.exec(l, req, now)
			c.executed++
			if req.Cmd == wire.CmdSetState && resp.Cmd == wire.ReplyState {
				// The change was applied but the reply that would tell the
				// master is not sent: it is news for the next POLL
				// (PROTOCOL.md section 6).
				l.changedUnseen()
			}
		}
		return wire.Frame{}, false
	}
	if resp, ok := c.duplicate(req); ok {
		return resp, true
	}
	resp := c.exec(l, req, now)
	c.remember(req, resp)
	if c.fw.rebootNow {
		// A committed image: the reply goes out, then the device reboots
		// into the new slot and is silent while it boots.
		l.shutdown(now)
		l.restart(now)
		c.fw.bootUntil = now.Add(c.fw.bootTime)
	}
	return resp, true
}

func (c *core) exec(l logic, req wire.Frame, now time.Time) wire.Frame {
	reply := func(cmd wire.Cmd, payload []byte) wire.Frame {
		return wire.Frame{Addr: c.addr, Seq: req.Seq, Cmd: cmd, Payload: payload}
	}
	stateReply := func() wire.Frame {
		s := l.state(now)
		p, err := wire.AppendState(nil, &s)
		if err != nil {
			return errorReply(req, c.addr, wire.ErrCodeInternal, 0)
		}
		l.reported(s)
		return reply(wire.ReplyState, p)
	}
	switch req.Cmd {
	case wire.CmdIdentify:
		in := l.info()
		p, err := wire.AppendInfo(nil, &in)
		if err != nil {
			return errorReply(req, c.addr, wire.ErrCodeInternal, 0)
		}
		return reply(wire.ReplyInfo, p)
	case wire.CmdGetState:
		return stateReply()
	case wire.CmdPoll:
		if len(req.Payload) != 0 {
			return errorReply(req, c.addr, wire.ErrCodeMalformed, 0)
		}
		if l.news(now) {
			return stateReply()
		}
		return reply(wire.ReplyAck, nil)
	case wire.CmdSetState:
		s, err := wire.DecodeState(req.Payload)
		switch {
		case errors.Is(err, wire.ErrBadValue):
			return errorReply(req, c.addr, wire.ErrCodeRange, 0)
		case err != nil:
			return errorReply(req, c.addr, wire.ErrCodeMalformed, 0)
		}
		// Meter readings and the color mode are reply-only.
		if extra := s.Fields &^ l.settable(); extra != 0 {
			return errorReply(req, c.addr, wire.ErrCodeUnsupported, fieldIndex(extra))
		}
		if code, detail := l.set(s, now); code != 0 {
			return errorReply(req, c.addr, code, detail)
		}
		return stateReply()
	case wire.CmdBlink:
		secs, err := wire.DecodeBlink(req.Payload)
		if err != nil {
			return errorReply(req, c.addr, wire.ErrCodeRange, 0)
		}
		c.blink(secs, now)
		return reply(wire.ReplyAck, nil)
	case wire.CmdUpdateBegin, wire.CmdUpdateChunk, wire.CmdUpdateCommit, wire.CmdUpdateAbort:
		return c.handleUpdate(req, now)
	}
	return errorReply(req, c.addr, wire.ErrCodeUnknownCmd, uint8(req.Cmd))
}
