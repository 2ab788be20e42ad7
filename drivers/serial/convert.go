package serial

import (
	"fmt"
	"strings"

	"hubd/firmware/wire"
	"hubd/hub"
)

// toHub converts a device's STATE payload to hub state.
func toHub(s wire.State) hub.State {
	var h hub.State
	if s.Fields.Has(wire.FOn) {
		h.Set, h.On = h.Set.With(hub.FieldOn), s.On
	}
	if s.Fields.Has(wire.FBrightness) {
		h.Set, h.Brightness = h.Set.With(hub.FieldBrightness), int(s.Brightness)
	}
	if s.Fields.Has(wire.FColor) {
		h.Set, h.Color = h.Set.With(hub.FieldColor), hub.HSV{H: int(s.Hue), S: int(s.Sat), V: int(s.Val)}
	}
	if s.Fields.Has(wire.FTemp) {
		h.Set, h.TemperatureK = h.Set.With(hub.FieldTemperatureK), int(s.Kelvin)
	}
	if s.Fields.Has(wire.FMode) {
		switch s.Mode {
		case wire.ModeHSV:
			h.Mode = hub.ColorModeHSV
		case wire.ModeTemp:
			h.Mode = hub.ColorModeTemperature
		}
	}
	if s.Fields.Has(wire.FPower) {
		h.Set, h.Power = h.Set.With(hub.FieldPower), float64(s.PowerCW)/100
	}
	if s.Fields.Has(wire.FVoltage) {
		h.Set, h.Voltage = h.Set.With(hub.FieldVoltage), float64(s.VoltageCV)/100
	}
	if s.Fields.Has(wire.FCurrent) {
		h.Set, h.Current = h.Set.With(hub.FieldCurrent), float64(s.CurrentMA)/1000
	}
	if s.Fields.Has(wire.FEnergy) {
		h.Set, h.Energy = h.Set.With(hub.FieldEnergy), float64(s.EnergyWh)/1000
	}
	return h
}

// toWire converts the values a command sets. Meter readings can not be set.
func toWire(h hub.State) (wire.State, error) {
	var s wire.State
	if ro := h.Set.Intersect(hub.MeterFields); !ro.Empty() {
		return s, fmt.Errorf("%w: %s is read-only", hub.ErrNotSupported, ro)
	}
	if h.Set.Has(hub.FieldOn) {
		s.Fields |= wire.FOn
		s.On = h.On
	}
	if h.Set.Has(hub.FieldBrightness) {
		if h.Brightness < 0 || h.Brightness > 100 {
			return s, fmt.Errorf("%w: brightness %d", hub.ErrInvalidValue, h.Brightness)
		}
		s.Fields |= wire.FBrightness
		s.Brightness = uint8(h.Brightness)
	}
	if h.Set.Has(hub.FieldColor) {
		if !h.Color.Valid() {
			return s, fmt.Errorf("%w: color %v", hub.ErrInvalidValue, h.Color)
		}
		s.Fields |= wire.FColor
		s.Hue, s.Sat, s.Val = uint16(h.Color.H), uint8(h.Color.S), uint8(h.Color.V)
	}
	if h.Set.Has(hub.FieldTemperatureK) {
		if h.TemperatureK < 1000 || h.TemperatureK > 20000 {
			return s, fmt.Errorf("%w: %d K", hub.ErrInvalidValue, h.TemperatureK)
		}
		s.Fields |= wire.FTemp
		s.Kelvin = uint16(h.TemperatureK)
	}
	return s, nil
}

// toInfo converts an INFO reply.
func toInfo(in wire.Info) *hub.Info {
	return &hub.Info{
		Manufacturer: in.Vendor,
		Model:        in.Model,
		Hardware:     fmt.Sprintf("rev %d", in.HWRev),
		Firmware:     in.FirmwareString(),
	}
}

// capsOf converts the capability mask and color temperature range of an
// INFO reply (PROTOCOL.md §10: the master learns from INFO what a device
// has).
func capsOf(in wire.Info) *hub.Caps {
	var c hub.Caps
	for _, m := range wireFields {
		if in.Caps.Has(m.w) {
			c.Fields = c.Fields.With(m.h)
		}
	}
	if c.Fields.Has(hub.FieldTemperatureK) {
		c.TempMinK, c.TempMaxK = int(in.MinK), int(in.MaxK)
	}
	return &c
}

// wireFields pairs the wire's field bits with the hub's fields.
var wireFields = [...]struct {
	w wire.Fields
	h hub.Field
}{
	{wire.FOn, hub.FieldOn}, {wire.FBrightness, hub.FieldBrightness},
	{wire.FColor, hub.FieldColor}, {wire.FTemp, hub.FieldTemperatureK},
	{wire.FPower, hub.FieldPower}, {wire.FVoltage, hub.FieldVoltage},
	{wire.FCurrent, hub.FieldCurrent}, {wire.FEnergy, hub.FieldEnergy},
}

// errorOf maps a device's ERROR reply to the hub's errors.
func errorOf(e wire.ErrorReply) error {
	// The reason is the device's own words ("device error 0x03 (value out
	// of range), detail 3"), without the Go package that decoded them.
	r := &hub.Refusal{Reason: strings.TrimPrefix(e.Error(), "wire: "), Err: ErrDevice}
	switch e.Code {
	case wire.ErrCodeRange:
		r.Err = hub.ErrInvalidValue
	case wire.ErrCodeUnsupported:
		r.Err = hub.ErrNotSupported
	case wire.ErrCodeBusy:
		r.Err = hub.ErrBusy
	}
	return r
}
