package mqtt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"hubd/hub"
)

// update is what a decoder learned from one message: state values (those
// in State.Set), the device's availability, and what it said about itself
// (only the non-empty Info fields are news).
type update struct {
	State hub.State
	Avail hub.Availability
	Info  *hub.Info
	Link  *hub.Link // link quality, when the message carried it
}

func (u *update) empty() bool {
	return u.State.Set.Empty() && u.Avail == hub.AvailUnchanged && u.Info == nil && u.Link == nil
}

// maxInfoText caps one Info field a device reports (a model name, a
// firmware version); longer text is not what the field promises.
const maxInfoText = 128

// infoText decodes a short, printable string for a hub.Info field; null
// is the empty string.
func infoText(key string, raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	s, err := str(key, raw)
	if err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if len(s) > maxInfoText {
		return "", badf("%s: %d bytes, want at most %d", key, len(s), maxInfoText)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", badf("%s: control characters in %.40q", key, s)
	}
	return s, nil
}

// infoKey names a JSON member and the Info field it fills.
type infoKey struct {
	key string
	dst *string
}

// infoFields reads members of m into Info fields, in order: the first
// non-empty member for a field wins, so later keys are fallbacks. Absent
// and null members are skipped.
func infoFields(m jsonObject, keys ...infoKey) error {
	for _, k := range keys {
		raw, ok := m.get(k.key)
		if !ok {
			continue
		}
		s, err := infoText(k.key, raw)
		if err != nil {
			return err
		}
		if s != "" && *k.dst == "" {
			*k.dst = s
		}
	}
	return nil
}

// mergeInfo copies the non-empty fields of src over dst.
func mergeInfo(dst *hub.Info, src hub.Info) {
	for _, f := range []struct {
		d *string
		s string
	}{
		{&dst.Manufacturer, src.Manufacturer}, {&dst.Model, src.Model},
		{&dst.Hardware, src.Hardware}, {&dst.Firmware, src.Firmware},
	} {
		if f.s != "" {
			*f.d = f.s
		}
	}
}

func (u *update) setOn(on bool) {
	u.State.On = on
	u.State.Set = u.State.Set.With(hub.FieldOn)
}

func (u *update) setBrightness(p int) {
	u.State.Brightness = p
	u.State.Set = u.State.Set.With(hub.FieldBrightness)
}

func (u *update) setFloat(f hub.Field, v float64) {
	switch f {
	case hub.FieldPower:
		u.State.Power = v
	case hub.FieldVoltage:
		u.State.Voltage = v
	case hub.FieldCurrent:
		u.State.Current = v
	case hub.FieldEnergy:
		u.State.Energy = v
	default:
		return
	}
	u.State.Set = u.State.Set.With(f)
}

func (u *update) setKelvin(k int) {
	u.State.TemperatureK = k
	u.State.Set = u.State.Set.With(hub.FieldTemperatureK)
}

func (u *update) setColor(c hub.HSV) {
	u.State.Color = c
	u.State.Set = u.State.Set.With(hub.FieldColor)
}

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadPayload}, args...)...)
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// number decodes a finite JSON number (null is 0, as encoding/json
// leaves a float64 alone for it).
func number(key string, raw json.RawMessage) (float64, error) {
	return numberOf("", key, raw)
}

// numberOf is number for member key of the object obj, named "obj.key"
// in errors: the name is only built for an error.
func numberOf(obj, key string, raw json.RawMessage) (float64, error) {
	t := trimJSONSpace(raw)
	if string(t) == "null" {
		return 0, nil
	}
	end, err := jsonNumber(t, 0)
	if err != nil || end != len(t) || len(t) == 0 {
		return 0, badf("%s: want a number, got %.40s", dotted(obj, key), raw)
	}
	f, err := strconv.ParseFloat(string(t), 64)
	if err != nil {
		return 0, badf("%s: want a number, got %.40s", dotted(obj, key), raw)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e9 {
		return 0, badf("%s: %v out of range", dotted(obj, key), f)
	}
	return f, nil
}

// dotted names member key of obj ("" for a top-level member).
func dotted(obj, key string) string {
	if obj == "" {
		return key
	}
	return obj + "." + key
}

// intIn decodes a JSON number that must lie within [lo, hi], rounded to an int.
func intIn(key string, raw json.RawMessage, lo, hi float64) (int, error) {
	return intOf("", key, raw, lo, hi)
}

// intOf is intIn for member key of the object obj (see numberOf).
func intOf(obj, key string, raw json.RawMessage, lo, hi float64) (int, error) {
	f, err := numberOf(obj, key, raw)
	if err != nil {
		return 0, err
	}
	if f < lo || f > hi {
		return 0, badf("%s: %v outside %v..%v", dotted(obj, key), f, lo, hi)
	}
	return int(math.Round(f)), nil
}

// str decodes a JSON string (null is ""). A string without escapes costs
// the one allocation of the result.
func str(key string, raw json.RawMessage) (string, error) {
	b, err := text(key, raw)
	return string(b), err
}

// text decodes a JSON string (null is empty) into the payload's own bytes
// when it has no escapes, for a caller that only compares it; with
// escapes, into a copy.
func text(key string, raw json.RawMessage) ([]byte, error) {
	t := trimJSONSpace(raw)
	if string(t) == "null" {
		return nil, nil
	}
	if len(t) > 0 && t[0] == '"' {
		end, plain, err := jsonString(t, 0)
		if err == nil && end == len(t) {
			if inner := t[1 : len(t)-1]; plain && utf8.Valid(inner) {
				return inner, nil
			}
			var s string
			if json.Unmarshal(t, &s) == nil {
				return []byte(s), nil
			}
		}
	}
	return nil, badf("%s: want a string, got %.40s", key, raw)
}

// boolean decodes a JSON true or false (null is false).
func boolean(key string, raw json.RawMessage) (bool, error) {
	switch string(trimJSONSpace(raw)) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, badf("%s: want true or false, got %.40s", key, raw)
}

// onOff parses the words devices use for a relay's state, in any case.
// The case is folded over ASCII only, as strings.ToLower would without
// its copy: no letter beyond ASCII lowers to a letter of these words.
func onOff(s string) (bool, error) {
	w := strings.TrimSpace(s)
	for _, on := range [...]string{"on", "1", "true"} {
		if asciiFold(w, on) {
			return true, nil
		}
	}
	for _, off := range [...]string{"off", "0", "false"} {
		if asciiFold(w, off) {
			return false, nil
		}
	}
	// A copy for the error: s itself then stays on its caller's stack,
	// so string(payload) costs no allocation on the way in.
	return false, badf("want ON or OFF, got %.40q", strings.Clone(s))
}

// asciiFold reports whether s is lower, an ASCII word in lower case, in
// any case.
func asciiFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// plainNumber parses a bare number payload (Shelly Gen1 power, energy).
func plainNumber(p []byte) (float64, error) {
	s := strings.TrimSpace(string(p))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, badf("want a number, got %.40q", strings.Clone(s)) // s stays on the stack (see onOff)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e9 {
		return 0, badf("number %v out of range", f)
	}
	return f, nil
}

// Mireds and kelvin are reciprocal: K = 1e6 / mired.
func miredToKelvin(m float64) int { return int(math.Round(1e6 / m)) }

func kelvinToMired(k int, lo, hi int) int {
	m := int(math.Round(1e6 / float64(k)))
	return min(max(m, lo), hi)
}
