package uplink

import (
	"errors"
	"testing"

	"hubd/hub"
)

// FuzzCommand feeds any payload through the command decoding and checks:
// never a panic, a clear ErrBadCommand, or a command with something to set
// that the hub either takes or refuses with a domain error.
func FuzzCommand(f *testing.F) {
	for _, seed := range []string{
		`{"id":"c-1","at":"2026-01-02T03:04:05Z","state":"ON","brightness":40,"color_temp":3000}`,
		`{"state":"OFF"}`, `{"color":{"h":120,"s":80}}`, `{"color":{"h":400,"s":-1,"v":7}}`,
		`{"brightness":-5}`, `{"state":"MAYBE"}`, `{"id":"x"}`, `{"state":`, `null`, `[]`, `"ON"`, ``,
		`{"at":"yesterday"}`, `{"color_temp":1e99}`,
	} {
		f.Add([]byte(seed))
	}
	devs := []hub.Device{{ID: "lamp-1", Kind: hub.KindLight, Driver: "sim", Fields: hub.LightFields, TempMinK: 2700, TempMaxK: 6500}}
	h, err := hub.New(devs, nil, hub.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := decodeCommand(payload)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("decode error %v is not ErrBadCommand", err)
			}
			return
		}
		cmd, err := c.command("lamp-1", h)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("command error %v is not ErrBadCommand", err)
			}
			return
		}
		if cmd.Set.Set.Empty() || cmd.Device != "lamp-1" {
			t.Fatalf("command %+v has nothing to set", cmd)
		}
		// Out-of-range values are the hub's to refuse: Execute never
		// reaches a driver (there is none) with them.
		if err := cmd.Set.Validate(); err == nil && cmd.Set.Set.Has(hub.FieldBrightness) && (cmd.Set.Brightness < 0 || cmd.Set.Brightness > 100) {
			t.Fatalf("brightness %d passed validation", cmd.Set.Brightness)
		}
	})
}
