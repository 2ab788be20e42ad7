package mqtt_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Discovery keys its Gen2 notes (and RPC calls) by the prefix of an
// "<prefix>/online" topic. The embedded broker's topic shares the PUBLISH
// body's memory, so a prefix kept as it came would keep the whole packet:
// "true" padded with spaces would pin up to MaxPayload per prefix, for
// good (Gen2 notes are never dropped).
func TestDiscovery_Gen2NotesDoNotKeepThePacket(t *testing.T) {
	notesDoNotKeepThePacket(t, "shellyplus1-%012x/online", "true")
}

// The same through Tasmota's discovery topic: the MAC, a piece of the
// topic, keys discovery's note, which stays when the config does not
// parse.
func TestDiscovery_TasmotaNotesDoNotKeepThePacket(t *testing.T) {
	notesDoNotKeepThePacket(t, "tasmota/discovery/%012X/config", "{")
}

// notesDoNotKeepThePacket publishes 64 messages on topics made of format
// and a number, each start padded to 60 KiB, and fails when discovery's
// notes of them keep their packets.
func notesDoNotKeepThePacket(t *testing.T, format, start string) {
	t.Helper()
	drv, _, finds := startDiscovery(t, 10, 1024)
	dev := rawClient(t, drv.BrokerURL(), "", "")
	marker := func(n int) {
		t.Helper()
		id := fmt.Sprintf("marker-%d", n)
		dev.Publish("shellies/announce", 0, false, `{"id":"`+id+`","model":"SHSW-1"}`).Wait()
		waitFor(t, 10*time.Second, id, func() bool { _, ok := finds.Get("mqtt", "shelly:"+id); return ok })
	}
	// The broker's own buffers and the client's settle first.
	marker(0)
	before := liveHeap()
	const n, pad = 64, 60 << 10
	payload := start + strings.Repeat(" ", pad)
	for i := range n {
		dev.Publish(fmt.Sprintf(format, i), 0, false, payload).Wait()
	}
	// Messages of one connection are handled in order: the marker says
	// every one before it was.
	marker(1)
	dev.Publish("elsewhere/x", 0, false, "x").Wait() // the client's last packet written
	if grown := liveHeap() - before; grown > n*pad/4 {
		t.Fatalf("live heap grew by %d bytes: discovery's notes of %d messages keep their %d-byte packets", grown, n, len(payload))
	}
}
