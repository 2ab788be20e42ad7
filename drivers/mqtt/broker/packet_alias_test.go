package broker

import (
	"bytes"
	"testing"
	"unsafe"
)

// within reports whether s's bytes lie in body's memory.
func within(s string, body []byte) bool {
	if len(s) == 0 || len(body) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.SliceData(body)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(body))
}

// A PUBLISH's topic and payload are its body's bytes, not copies: a
// retained message costs its body and a Message, and parsing one costs
// no allocation.
func TestParsePublish_TopicAndPayloadShareTheBody(t *testing.T) {
	_, body := splitPacket(t, publishPacket("tele/plug-1/STATE", `{"POWER":"ON"}`, 1, true, 7))
	p, err := parsePublish(0x33, body)
	if err != nil {
		t.Fatal(err)
	}
	if p.msg.Topic != "tele/plug-1/STATE" || string(p.msg.Payload) != `{"POWER":"ON"}` || p.pid != 7 {
		t.Fatalf("parsed %+v", p)
	}
	if !within(p.msg.Topic, body) {
		t.Error("the topic is a copy of the body's bytes")
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = parsePublish(0x33, body) }); n != 0 {
		t.Errorf("parsing a PUBLISH allocates %.0f times", n)
	}
}

// A will's topic and payload are one copy (see also
// TestParseConnect_WillDoesNotHoldThePacket), and neither runs into the
// other.
func TestParseConnect_WillIsOneCopy(t *testing.T) {
	cp := connectSpec{id: "dev", clean: true, user: "u", pass: "secret",
		will: &Message{Topic: "avail/dev", Payload: []byte("offline"), QoS: 1, Retain: true}}
	_, body := splitPacket(t, cp.packet())
	c, _, err := parseConnect(body)
	if err != nil {
		t.Fatal(err)
	}
	w := c.will
	if w == nil || w.Topic != "avail/dev" || string(w.Payload) != "offline" || w.QoS != 1 || !w.Retain {
		t.Fatalf("will %+v", w)
	}
	if within(w.Topic, body) || within(string(w.Payload), body) {
		t.Error("the will shares the CONNECT's memory")
	}
	// Its topic and payload are apart: appending to the payload must not
	// write over anything.
	grown := append(w.Payload, '!')
	if w.Topic != "avail/dev" || !bytes.Equal(grown, []byte("offline!")) {
		t.Errorf("after an append: topic %q, payload %q", w.Topic, grown)
	}
}
