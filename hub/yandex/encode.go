package yandex

import (
	"strconv"
	"unicode/utf8"

	"hubd/hub"
)

// Yandex names, shared by discovery, query, action and the notifier.
const (
	capOnOff = "devices.capabilities.on_off"
	capRange = "devices.capabilities.range"
	capColor = "devices.capabilities.color_setting"
	propFlt  = "devices.properties.float"

	typeLight  = "devices.types.light"
	typeSocket = "devices.types.socket"
)

// floatProp describes one metering field as a Yandex float property.
type floatProp struct {
	field    hub.Field
	instance string
	unit     string
}

var floatProps = []floatProp{
	{hub.FieldPower, "power", "unit.watt"},
	{hub.FieldVoltage, "voltage", "unit.volt"},
	{hub.FieldCurrent, "amperage", "unit.ampere"},
	{hub.FieldEnergy, "electricity_meter", "unit.kilowatt_hour"},
}

// Brightness range published in discovery (see the package comment).
const (
	brightMin = 1
	brightMax = 100
)

// colorField returns which color instance of st to publish among fields:
// the one the lamp shows now (State.Mode), or, when the mode is unknown,
// whichever one is known, temperature first.
func colorField(st *hub.State, fields hub.FieldSet) (hub.Field, bool) {
	have := st.Set.Intersect(fields)
	switch st.Mode {
	case hub.ColorModeHSV:
		return hub.FieldColor, have.Has(hub.FieldColor)
	case hub.ColorModeTemperature:
		return hub.FieldTemperatureK, have.Has(hub.FieldTemperatureK)
	}
	if have.Has(hub.FieldTemperatureK) {
		return hub.FieldTemperatureK, true
	}
	return hub.FieldColor, have.Has(hub.FieldColor)
}

// appendDeviceState appends {"id":..,"capabilities":[..],"properties":[..]}
// for the fields of st that are both known (st.Set) and asked for.
// Integers stay integers: the platform rejects 3500.0 for temperature_k.
func appendDeviceState(b []byte, id string, st *hub.State, fields hub.FieldSet) []byte {
	have := st.Set.Intersect(fields)
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	n := 0
	openCap := func() {
		if n == 0 {
			b = append(b, `,"capabilities":[`...)
		} else {
			b = append(b, ',')
		}
		n++
	}
	if have.Has(hub.FieldOn) {
		openCap()
		b = append(b, `{"type":"`+capOnOff+`","state":{"instance":"on","value":`...)
		b = strconv.AppendBool(b, st.On)
		b = append(b, "}}"...)
	}
	if have.Has(hub.FieldBrightness) {
		openCap()
		v := min(max(st.Brightness, brightMin), brightMax)
		b = append(b, `{"type":"`+capRange+`","state":{"instance":"brightness","value":`...)
		b = strconv.AppendInt(b, int64(v), 10)
		b = append(b, "}}"...)
	}
	if f, ok := colorField(st, fields); ok {
		openCap()
		b = append(b, `{"type":"`+capColor+`","state":{"instance":`...)
		if f == hub.FieldColor {
			b = append(b, `"hsv","value":{"h":`...)
			b = strconv.AppendInt(b, int64(st.Color.H), 10)
			b = append(b, `,"s":`...)
			b = strconv.AppendInt(b, int64(st.Color.S), 10)
			b = append(b, `,"v":`...)
			b = strconv.AppendInt(b, int64(st.Color.V), 10)
			b = append(b, "}}}"...)
		} else {
			b = append(b, `"temperature_k","value":`...)
			b = strconv.AppendInt(b, int64(st.TemperatureK), 10)
			b = append(b, "}}"...)
		}
	}
	if n > 0 {
		b = append(b, ']')
	}
	n = 0
	for _, p := range floatProps {
		if !have.Has(p.field) {
			continue
		}
		if n == 0 {
			b = append(b, `,"properties":[`...)
		} else {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"type":"`+propFlt+`","state":{"instance":"`...)
		b = append(b, p.instance...)
		b = append(b, `","value":`...)
		b = appendFloat(b, st.Float(p.field))
		b = append(b, "}}"...)
	}
	if n > 0 {
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendDeviceError appends {"id":..,"error_code":..,"error_message":..}.
func appendDeviceError(b []byte, id, code, msg string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"error_code":"`...)
	b = append(b, code...)
	b = append(b, `","error_message":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

func appendFloat(b []byte, v float64) []byte {
	// hub.State.Validate keeps values finite and within +-1e9, where the
	// shortest 'f' form is always valid JSON.
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, and
// U+2028/U+2029 are escaped so the output is also safe inside JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
