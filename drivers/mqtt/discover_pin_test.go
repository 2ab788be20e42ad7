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
	drv, _, finds := startDiscovery(t, 10, 1024)
	dev := rawClient(t, drv.BrokerURL(), "", "")
	// The broker's own buffers and the client's settle first.
	dev.Publish("shellies/announce", 0, false, `{"id":"marker-0","model":"SHSW-1"}`).Wait()
	waitFor(t, 10*time.Second, "marker 0", func() bool { _, ok := finds.Get("mqtt", "shelly:marker-0"); return ok })
	before := liveHeap()
	const n, pad = 64, 60 << 10
	payload := "true" + strings.Repeat(" ", pad)
	for i := range n {
		dev.Publish(fmt.Sprintf("shellyplus1-%012x/online", i), 0, false, payload).Wait()
	}
	// Messages of one connection are handled in order: the marker says
	// every online message was.
	dev.Publish("shellies/announce", 0, false, `{"id":"marker-1","model":"SHSW-1"}`).Wait()
	waitFor(t, 10*time.Second, "marker 1", func() bool { _, ok := finds.Get("mqtt", "shelly:marker-1"); return ok })
	dev.Publish("elsewhere/x", 0, false, "x").Wait() // the client's last packet written
	grown := liveHeap() - before
	t.Logf("live heap grew by %d bytes for %d online messages of %d bytes", grown, n, len(payload))
	if grown > n*pad/4 {
		t.Fatalf("live heap grew by %d bytes: the %d prefixes keep their %d-byte packets", grown, n, len(payload))
	}
}

// The same through Tasmota's discovery topic: the MAC, a piece of the
// topic, keys discovery's note, which stays when the config does not
// parse.
func TestDiscovery_TasmotaNotesDoNotKeepThePacket(t *testing.T) {
	drv, _, finds := startDiscovery(t, 10, 1024)
	dev := rawClient(t, drv.BrokerURL(), "", "")
	dev.Publish("shellies/announce", 0, false, `{"id":"marker-0","model":"SHSW-1"}`).Wait()
	waitFor(t, 10*time.Second, "marker 0", func() bool { _, ok := finds.Get("mqtt", "shelly:marker-0"); return ok })
	before := liveHeap()
	const n, pad = 64, 60 << 10
	payload := "{" + strings.Repeat(" ", pad)
	for i := range n {
		dev.Publish(fmt.Sprintf("tasmota/discovery/%012X/config", i), 0, false, payload).Wait()
	}
	dev.Publish("shellies/announce", 0, false, `{"id":"marker-1","model":"SHSW-1"}`).Wait()
	waitFor(t, 10*time.Second, "marker 1", func() bool { _, ok := finds.Get("mqtt", "shelly:marker-1"); return ok })
	dev.Publish("elsewhere/x", 0, false, "x").Wait()
	grown := liveHeap() - before
	t.Logf("live heap grew by %d bytes for %d config messages of %d bytes", grown, n, len(payload))
	if grown > n*pad/4 {
		t.Fatalf("live heap grew by %d bytes: the %d MACs keep their %d-byte packets", grown, n, len(payload))
	}
}
