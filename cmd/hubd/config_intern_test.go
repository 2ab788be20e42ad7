package main

import (
	"strings"
	"testing"
	"unsafe"
)

// Values a configuration repeats are held once: every device's kind and
// driver, a capability, and a device id in its entry and in its room's
// list.
func TestConfig_RepeatedValuesShareOneString(t *testing.T) {
	text := strings.Replace(goodConfig, "site:", "  - id: lamp-2\n    kind: light\n    driver: serial\n    bus: bus0\n    address: 2\nsite:", 1)
	text = strings.Replace(text, "[lamp-1]", "[lamp-1, lamp-2]", 1)
	text = strings.Replace(text, "    address: 2\n", "    address: 2\n    capabilities: [on, brightness]\n", 1)
	text = strings.Replace(text, "    address: 1\n", "    address: 1\n    capabilities: [on]\n", 1)
	c, err := ParseConfig("config.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Devices[0], c.Devices[1]
	same := func(what, x, y string) {
		t.Helper()
		if x != y || unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s: %q and %q are two copies", what, x, y)
		}
	}
	same("kind", a.Kind, b.Kind)
	same("driver", a.Driver, b.Driver)
	same("bus", a.Bus, b.Bus)
	same("id in the site", a.ID, c.Site[0].Devices[0])
	same("id in the site", b.ID, c.Site[0].Devices[1])
	if a.ID == b.ID {
		t.Errorf("two devices got one id %q", a.ID)
	}
	same("capability", a.Capabilities[0], b.Capabilities[0])
}
