package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hubd/hub"
)

func TestConfig_ExampleFileIsValid(t *testing.T) {
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	// Its secrets set, as hubd refuses the placeholders.
	c, err := ParseConfig("hubd.yaml", []byte(withOwnSecrets(t, string(b))))
	if err != nil {
		t.Fatal(err)
	}
	devs, err := c.HubDevices()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 6 || devs[0].Address != "bus0/1" || devs[2].Address != "tasmota:r101-lamp" || devs[5].Address != "modbus0/1/3" {
		t.Fatalf("devices = %+v", devs)
	}
	site := c.HubSite()
	if err := site.Validate(nil); err != nil {
		t.Fatal(err)
	}
	if room, _ := site.RoomOf("r201-lamp"); room == nil || room.Name != "Room 201" {
		t.Fatalf("room of r201-lamp = %+v", room)
	}
	if !devs[4].Fields.Has(hub.FieldTemperatureK) || devs[4].Fields.Has(hub.FieldColor) || devs[4].TempMinK != 2200 {
		t.Fatalf("r201-lamp = %+v", devs[4])
	}
}

const goodConfig = `
http:
  listen: 127.0.0.1:0
serial:
  - name: bus0
    port: /dev/ttyUSB0
devices:
  - id: lamp-1
    kind: light
    driver: serial
    bus: bus0
    address: 1
site:
  - id: b
    name: B
    kind: building
    devices: [lamp-1]
`

func TestConfig_ErrorsNameTheirLine(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"syntax", "http:\n  listen: [\n", "config.yaml:2:"},
		{"unknown field", "http:\n  listn: x\n", "config.yaml:2: field listn not found"},
		{"wrong type", "serial:\n  - name: b\n    baud: fast\n", "config.yaml:3:"},
		{"bad kind", strings.Replace(goodConfig, "kind: light", "kind: toaster", 1), `config.yaml:9: device "lamp-1": kind "toaster"`},
		{"unknown bus", strings.Replace(goodConfig, "bus: bus0", "bus: bus9", 1), `config.yaml:11: device "lamp-1": serial bus "bus9"`},
		{"bad address", strings.Replace(goodConfig, "address: 1", "address: 900", 1), "config.yaml:12: device \"lamp-1\": address 900"},
		{"unknown device in site", strings.Replace(goodConfig, "[lamp-1]", "[lamp-1, ghost]", 1), `config.yaml:17: site node "b" lists unknown device "ghost"`},
		{"token in clear", goodConfig + "yandex:\n  users:\n    - id: u\n      tokens: [secret]\n", "config.yaml:21: yandex user \"u\": token must be sha256"},
		{"empty", "", "file is empty"},
		{"duration", "stale_after: soon\n", "config.yaml:1:"},
		{"mqtt devices without mqtt", strings.Replace(goodConfig, "site:", "  - id: x\n    kind: light\n    driver: tasmota\n    topic: t\nsite:", 1), "no mqtt section"},
		{"duplicate id", strings.Replace(goodConfig, "site:", "  - id: lamp-1\n    kind: light\n    driver: serial\n    bus: bus0\n    address: 2\nsite:", 1), `config.yaml:13: device id "lamp-1" is used twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig("config.yaml", []byte(c.text))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestConfig_TooDeepSiteIsRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("site:\n")
	indent := ""
	for i := 0; i < hub.MaxSiteDepth+1; i++ {
		b.WriteString(indent + "  - id: n" + strings.Repeat("x", i) + "\n")
		b.WriteString(indent + "    name: N\n")
		b.WriteString(indent + "    children:\n")
		indent += "    "
	}
	_, err := ParseConfig("deep.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "levels deep") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfig_OversizeFileIsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, []byte(strings.Repeat("#", maxConfigSize+10)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	if b, err := os.ReadFile("../../systemd/hubd.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("site:\n  - children:\n      - {}\n"))
	f.Add([]byte("devices: [{id: a, driver: serial}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if _, err := c.HubDevices(); err != nil {
			t.Fatalf("valid config gives invalid devices: %v", err)
		}
		if err := c.HubSite().Validate(nil); err != nil {
			t.Fatalf("valid config gives invalid site: %v", err)
		}
	})
}
