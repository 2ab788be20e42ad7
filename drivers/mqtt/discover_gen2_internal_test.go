package mqtt

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"hubd/hub"
)

// answerGen2 answers discovery's calls in flight for prefix with the
// golden files info, status and config ("" for none: "{}").
func answerGen2(t *testing.T, x *Discovery, prefix, info, status string) {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "discovery", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	answers := map[string]string{"Shelly.GetDeviceInfo": read(info), "Shelly.GetStatus": read(status), "Shelly.GetConfig": "{}"}
	x.mu.Lock()
	calls := map[uint64]gen2Call{}
	for id, c := range x.calls {
		if c.prefix == prefix {
			calls[id] = c
		}
	}
	x.mu.Unlock()
	if len(calls) != len(gen2Methods) {
		t.Fatalf("%d calls in flight for %s, want %d", len(calls), prefix, len(gen2Methods))
	}
	for id, c := range calls {
		if err := x.gen2Reply(fmt.Appendf(nil, `{"id":%d,"result":%s}`, id, answers[gen2Methods[c.method]])); err != nil {
			t.Fatal(err)
		}
	}
}

// A Gen2 device's answers are let go once its find is made, and the next
// time it comes online it is asked and found afresh.
func TestDiscovery_Gen2AnswersLetGoAndAskedAgain(t *testing.T) {
	var rep reports
	d, err := New(Options{Broker: "tcp://127.0.0.1:1", ClientID: "hubd-test", Apply: rep.apply})
	if err != nil {
		t.Fatal(err)
	}
	finds := hub.NewFinds(0)
	x, err := NewDiscovery(d, DiscoverOptions{Found: finds.Put, Lost: finds.Remove})
	if err != nil {
		t.Fatal(err)
	}
	x.conn = &ackConn{open: true}
	const prefix = "shellyplusplugs-e86beae4a1b2"
	x.gen2Online(prefix, []byte("true"))
	answerGen2(t, x, prefix, "shelly2-info-plug.json", "shelly2-status-plug.json")
	first, ok := finds.Get("mqtt", "shelly2:"+prefix)
	if !ok {
		t.Fatalf("plug not found: %+v", finds)
	}
	if s := x.gen2[prefix]; s.status != nil || s.config != nil {
		t.Error("the answers are kept after the find was made")
	}
	// Online again, now answering as an RGBW controller: asked again, and
	// what it says now replaces what it said before.
	x.gen2Online(prefix, []byte("true"))
	answerGen2(t, x, prefix, "shelly2-info-plug.json", "shelly2-status-rgbw.json")
	if _, still := finds.Get("mqtt", "shelly2:"+prefix); still {
		t.Errorf("the plug's find stays after the device said otherwise: %+v", first)
	}
	if n := finds.Len(); n == 0 {
		t.Error("nothing found from the second round")
	}
}
