package broker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
	"unsafe"
)

// MQTT 3.1.1 control packet types (the high nibble of the first byte).
const (
	typeConnect     = 1
	typeConnack     = 2
	typePublish     = 3
	typePuback      = 4
	typePubrec      = 5
	typePubrel      = 6
	typePubcomp     = 7
	typeSubscribe   = 8
	typeSuback      = 9
	typeUnsubscribe = 10
	typeUnsuback    = 11
	typePingreq     = 12
	typePingresp    = 13
	typeDisconnect  = 14
)

var typeNames = [16]string{"reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "reserved"}

// CONNACK return codes.
const (
	codeAccepted       = 0
	codeBadVersion     = 1
	codeBadClientID    = 2
	codeUnavailable    = 3
	codeBadCredentials = 4
	codeNotAuthorized  = 5
)

// maxRemaining is the largest remaining length four length bytes encode.
const maxRemaining = 268_435_455

// readPacket reads one control packet: its first byte and its body (a
// new slice, which the caller may keep). A body longer than limit is not
// read: the error wraps ErrTooLarge and the connection must be closed.
func readPacket(r *bufio.Reader, limit int) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return h, nil, truncated(err)
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return h, nil, fmt.Errorf("%w: remaining length longer than 4 bytes", ErrMalformed)
		}
		shift += 7
	}
	if n > limit {
		return h, nil, fmt.Errorf("%w: %s of %d bytes (limit %d)", ErrTooLarge, typeNames[h>>4], n, limit)
	}
	body, err := readBody(r, n)
	if err != nil {
		return h, nil, truncated(err)
	}
	return h, body, nil
}

// readBody reads n bytes into memory that grows as they arrive (up to
// twice what arrived), so that a length announced and not sent holds
// little. The body's capacity is n.
func readBody(r io.Reader, n int) ([]byte, error) {
	const first = 4 << 10
	body := make([]byte, min(n, first))
	got := 0
	for {
		m, err := io.ReadFull(r, body[got:])
		got += m
		if err != nil {
			return nil, err
		}
		if got == n {
			return body, nil
		}
		grown := make([]byte, min(n, 2*len(body)))
		copy(grown, body)
		body = grown
	}
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fields reads a packet body field by field; the first error sticks and
// later reads return zero values.
type fields struct {
	b   []byte
	err error
}

func (f *fields) fail(what string) {
	if f.err == nil {
		f.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
}

func (f *fields) byte(what string) byte {
	if f.err != nil || len(f.b) < 1 {
		f.fail(what + " missing")
		return 0
	}
	v := f.b[0]
	f.b = f.b[1:]
	return v
}

func (f *fields) u16(what string) uint16 {
	if f.err != nil || len(f.b) < 2 {
		f.fail(what + " truncated")
		return 0
	}
	v := uint16(f.b[0])<<8 | uint16(f.b[1])
	f.b = f.b[2:]
	return v
}

// bytes is a length-prefixed binary field (it aliases the body).
func (f *fields) bytes(what string) []byte {
	n := int(f.u16(what + " length"))
	if f.err != nil {
		return nil
	}
	if len(f.b) < n {
		f.fail(fmt.Sprintf("%s truncated (%d of %d bytes)", what, len(f.b), n))
		return nil
	}
	v := f.b[:n:n]
	f.b = f.b[n:]
	return v
}

// str is a length-prefixed UTF-8 string without U+0000.
func (f *fields) str(what string) string { return string(f.text(what)) }

// text is str's bytes, aliasing the body.
func (f *fields) text(what string) []byte {
	b := f.bytes(what)
	if f.err != nil {
		return nil
	}
	if !utf8.Valid(b) {
		f.fail(what + " is not UTF-8")
		return nil
	}
	if bytes.IndexByte(b, 0) >= 0 {
		f.fail(what + " holds U+0000")
		return nil
	}
	return b
}

// alias is b as a string without a copy: b must never be written again.
// A packet's body is not (readPacket and feed make each one anew), so a
// message's topic can share its payload's memory: a retained message is
// then its body and a Message, not a string more.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// connect is a parsed CONNECT packet.
type connect struct {
	level     byte // 3 (MQTT 3.1) or 4 (3.1.1)
	clean     bool
	keepAlive uint16
	clientID  string
	will      *Message
	username  string
	hasUser   bool
	password  []byte
	hasPass   bool
}

// parseConnect reads a CONNECT body. A refusal the client must be told
// of comes back as a non-zero CONNACK code with the error.
func parseConnect(body []byte) (*connect, byte, error) {
	f := fields{b: body}
	proto := f.str("protocol name")
	level := f.byte("protocol level")
	if f.err != nil {
		return nil, 0, f.err
	}
	switch {
	case proto == "MQTT" && level == 4, proto == "MQIsdp" && level == 3:
	case proto == "MQTT" || proto == "MQIsdp":
		return nil, codeBadVersion, fmt.Errorf("%w: protocol %s level %d (this broker speaks MQTT 3.1 and 3.1.1)", ErrRefused, proto, level)
	default:
		return nil, 0, fmt.Errorf("%w: protocol name %s is not MQTT", ErrProtocol, quoted(proto))
	}
	flags := f.byte("connect flags")
	c := &connect{level: level, clean: flags&0x02 != 0, hasUser: flags&0x80 != 0, hasPass: flags&0x40 != 0}
	c.keepAlive = f.u16("keep alive")
	if f.err != nil {
		return nil, 0, f.err
	}
	if flags&0x01 != 0 {
		return nil, 0, fmt.Errorf("%w: reserved connect flag set", ErrMalformed)
	}
	willFlag, willQoS, willRetain := flags&0x04 != 0, flags>>3&3, flags&0x20 != 0
	if willQoS == 3 || !willFlag && (willQoS != 0 || willRetain) {
		return nil, 0, fmt.Errorf("%w: will flags %#02x", ErrMalformed, flags)
	}
	if level == 4 && c.hasPass && !c.hasUser {
		return nil, 0, fmt.Errorf("%w: password without user name", ErrMalformed)
	}
	c.clientID = f.str("client id")
	if willFlag {
		topic := f.text("will topic")
		payload := f.bytes("will message")
		if f.err == nil {
			// A copy of both in one piece: the will lives as long as the
			// connection, and the packet it came in holds the client's
			// password too.
			kept := make([]byte, 0, len(topic)+len(payload))
			kept = append(append(kept, topic...), payload...)
			w := &Message{Topic: alias(kept[:len(topic)]), Payload: kept[len(topic):len(kept):len(kept)], QoS: willQoS, Retain: willRetain}
			if err := ValidTopic(w.Topic); err != nil {
				return nil, 0, fmt.Errorf("will: %w", err)
			}
			c.will = w
		}
	}
	if c.hasUser {
		c.username = f.str("user name")
	}
	if c.hasPass {
		c.password = f.bytes("password")
	}
	if f.err != nil {
		return nil, 0, f.err
	}
	if len(f.b) != 0 {
		return nil, 0, fmt.Errorf("%w: %d bytes after the last CONNECT field", ErrMalformed, len(f.b))
	}
	return c, 0, nil
}

// publish is a parsed PUBLISH packet.
type publish struct {
	msg Message
	dup bool
	pid uint16
}

func parsePublish(h byte, body []byte) (publish, error) {
	p := publish{dup: h&0x08 != 0}
	p.msg.QoS = h >> 1 & 3
	p.msg.Retain = h&0x01 != 0
	if p.msg.QoS == 3 {
		return p, fmt.Errorf("%w: PUBLISH with QoS 3", ErrMalformed)
	}
	f := fields{b: body}
	p.msg.Topic = alias(f.text("topic"))
	if p.msg.QoS > 0 {
		p.pid = f.u16("packet id")
		if f.err == nil && p.pid == 0 {
			return p, fmt.Errorf("%w: PUBLISH with packet id 0", ErrMalformed)
		}
	}
	if f.err != nil {
		return p, f.err
	}
	if err := ValidTopic(p.msg.Topic); err != nil {
		return p, err
	}
	p.msg.Payload = f.b
	return p, nil
}

// filterReq is one topic filter of a SUBSCRIBE or UNSUBSCRIBE.
type filterReq struct {
	filter string
	qos    byte
}

// parseSubscribe reads a SUBSCRIBE (withQoS) or UNSUBSCRIBE body. A
// filter that is well-formed UTF-8 but breaks the wildcard rules is
// returned with qos 0x80 so that SUBACK can refuse only it.
func parseSubscribe(body []byte, withQoS bool) (uint16, []filterReq, error) {
	f := fields{b: body}
	pid := f.u16("packet id")
	var reqs []filterReq
	for f.err == nil && len(f.b) > 0 {
		r := filterReq{filter: f.str("topic filter")}
		if withQoS {
			q := f.byte("requested QoS")
			if f.err == nil && q > 2 {
				return 0, nil, fmt.Errorf("%w: requested QoS byte %#02x", ErrMalformed, q)
			}
			r.qos = q
		}
		if f.err == nil && ValidFilter(r.filter) != nil {
			r.qos = 0x80
		}
		reqs = append(reqs, r)
	}
	if f.err != nil {
		return 0, nil, f.err
	}
	if pid == 0 {
		return 0, nil, fmt.Errorf("%w: packet id 0", ErrMalformed)
	}
	if len(reqs) == 0 {
		return 0, nil, fmt.Errorf("%w: no topic filter", ErrMalformed)
	}
	return pid, reqs, nil
}

// appendLength appends MQTT's variable-length remaining length.
func appendLength(b []byte, n int) []byte {
	for {
		d := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// appendPublish appends a PUBLISH packet.
func appendPublish(b []byte, m *Message, qos byte, retain, dup bool, pid uint16) []byte {
	h := byte(typePublish<<4) | qos<<1
	if retain {
		h |= 0x01
	}
	if dup {
		h |= 0x08
	}
	n := 2 + len(m.Topic) + len(m.Payload)
	if qos > 0 {
		n += 2
	}
	b = append(b, h)
	b = appendLength(b, n)
	b = append(b, byte(len(m.Topic)>>8), byte(len(m.Topic)))
	b = append(b, m.Topic...)
	if qos > 0 {
		b = append(b, byte(pid>>8), byte(pid))
	}
	return append(b, m.Payload...)
}
