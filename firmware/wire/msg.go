package wire

import (
	"encoding/binary"
	"fmt"
)

// Fields is the field mask of a State payload: one bit per field, values
// follow the mask in bit order.
type Fields uint16

// Field bits. The value encodings are given in PROTOCOL.md.
const (
	FOn         Fields = 1 << 0 // u8 0 or 1
	FBrightness Fields = 1 << 1 // u8 percent 0..100
	FColor      Fields = 1 << 2 // u16 hue 0..360, u8 saturation 0..100, u8 value 0..100
	FTemp       Fields = 1 << 3 // u16 kelvin 1000..20000
	FPower      Fields = 1 << 4 // u32 centiwatts (0.01 W)
	FVoltage    Fields = 1 << 5 // u16 centivolts (0.01 V)
	FCurrent    Fields = 1 << 6 // u32 milliamperes (0.001 A)
	FEnergy     Fields = 1 << 7 // u32 watt-hours (0.001 kWh)
	FMode       Fields = 1 << 8 // u8 color mode: 0 none, 1 HSV, 2 color temperature

	fieldsKnown = FOn | FBrightness | FColor | FTemp | FPower | FVoltage | FCurrent | FEnergy | FMode
)

// Color modes carried by FMode.
const (
	ModeNone = 0
	ModeHSV  = 1
	ModeTemp = 2
)

// Has reports whether every bit of o is in f.
func (f Fields) Has(o Fields) bool { return f&o == o }

// State is the payload of SET_STATE (the fields to change) and of a STATE
// reply (the device's state). Only the fields in Fields are meaningful.
type State struct {
	Fields     Fields
	On         bool
	Brightness uint8
	Hue        uint16
	Sat, Val   uint8
	Kelvin     uint16
	Mode       uint8
	PowerCW    uint32 // 0.01 W
	VoltageCV  uint16 // 0.01 V
	CurrentMA  uint32 // 0.001 A
	EnergyWh   uint32 // 0.001 kWh
}

// Validate checks every value in the mask against its range.
func (s *State) Validate() error {
	if s.Fields&^fieldsKnown != 0 {
		return fmt.Errorf("%w: 0x%04X", ErrUnknownField, uint16(s.Fields&^fieldsKnown))
	}
	if s.Fields.Has(FBrightness) && s.Brightness > 100 {
		return fmt.Errorf("%w: brightness %d", ErrBadValue, s.Brightness)
	}
	if s.Fields.Has(FColor) && (s.Hue > 360 || s.Sat > 100 || s.Val > 100) {
		return fmt.Errorf("%w: color %d,%d,%d", ErrBadValue, s.Hue, s.Sat, s.Val)
	}
	if s.Fields.Has(FTemp) && (s.Kelvin < 1000 || s.Kelvin > 20000) {
		return fmt.Errorf("%w: color temperature %d K", ErrBadValue, s.Kelvin)
	}
	if s.Fields.Has(FMode) && s.Mode > ModeTemp {
		return fmt.Errorf("%w: color mode %d", ErrBadValue, s.Mode)
	}
	return nil
}

// AppendState appends the payload encoding of s.
func AppendState(dst []byte, s *State) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return dst, err
	}
	dst = binary.LittleEndian.AppendUint16(dst, uint16(s.Fields))
	if s.Fields.Has(FOn) {
		b := byte(0)
		if s.On {
			b = 1
		}
		dst = append(dst, b)
	}
	if s.Fields.Has(FBrightness) {
		dst = append(dst, s.Brightness)
	}
	if s.Fields.Has(FColor) {
		dst = binary.LittleEndian.AppendUint16(dst, s.Hue)
		dst = append(dst, s.Sat, s.Val)
	}
	if s.Fields.Has(FTemp) {
		dst = binary.LittleEndian.AppendUint16(dst, s.Kelvin)
	}
	if s.Fields.Has(FPower) {
		dst = binary.LittleEndian.AppendUint32(dst, s.PowerCW)
	}
	if s.Fields.Has(FVoltage) {
		dst = binary.LittleEndian.AppendUint16(dst, s.VoltageCV)
	}
	if s.Fields.Has(FCurrent) {
		dst = binary.LittleEndian.AppendUint32(dst, s.CurrentMA)
	}
	if s.Fields.Has(FEnergy) {
		dst = binary.LittleEndian.AppendUint32(dst, s.EnergyWh)
	}
	if s.Fields.Has(FMode) {
		dst = append(dst, s.Mode)
	}
	return dst, nil
}

// reader walks a payload; the first short read sticks as err.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return make([]byte, n)
	}
	if len(r.b) < n {
		r.err = ErrShortPayload
		r.b = nil
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() uint8   { return r.take(1)[0] }
func (r *reader) u16() uint16 { return binary.LittleEndian.Uint16(r.take(2)) }
func (r *reader) u32() uint32 { return binary.LittleEndian.Uint32(r.take(4)) }

func (r *reader) done(what string) error {
	if r.err != nil {
		return fmt.Errorf("%w: %s", r.err, what)
	}
	if len(r.b) > 0 {
		return fmt.Errorf("%w: %s has %d extra", ErrTrailingBytes, what, len(r.b))
	}
	return nil
}

// DecodeState parses a SET_STATE or STATE payload and validates it.
func DecodeState(p []byte) (State, error) {
	r := reader{b: p}
	s := State{Fields: Fields(r.u16())}
	if r.err == nil && s.Fields&^fieldsKnown != 0 {
		return State{}, fmt.Errorf("%w: 0x%04X", ErrUnknownField, uint16(s.Fields&^fieldsKnown))
	}
	if s.Fields.Has(FOn) {
		switch r.u8() {
		case 0:
		case 1:
			s.On = true
		default:
			if r.err == nil {
				return State{}, fmt.Errorf("%w: on/off byte is not 0 or 1", ErrBadValue)
			}
		}
	}
	if s.Fields.Has(FBrightness) {
		s.Brightness = r.u8()
	}
	if s.Fields.Has(FColor) {
		s.Hue, s.Sat, s.Val = r.u16(), r.u8(), r.u8()
	}
	if s.Fields.Has(FTemp) {
		s.Kelvin = r.u16()
	}
	if s.Fields.Has(FPower) {
		s.PowerCW = r.u32()
	}
	if s.Fields.Has(FVoltage) {
		s.VoltageCV = r.u16()
	}
	if s.Fields.Has(FCurrent) {
		s.CurrentMA = r.u32()
	}
	if s.Fields.Has(FEnergy) {
		s.EnergyWh = r.u32()
	}
	if s.Fields.Has(FMode) {
		s.Mode = r.u8()
	}
	if err := r.done("state"); err != nil {
		return State{}, err
	}
	if err := s.Validate(); err != nil {
		return State{}, err
	}
	return s, nil
}

// Device kinds carried by Info.
const (
	KindLamp   = 1
	KindSocket = 2
)

// MaxText is the longest model or vendor string in an Info reply.
const MaxText = 24

// Info is the payload of an INFO reply.
type Info struct {
	Kind       uint8
	Caps       Fields // the fields the device supports (FMode is implied by FColor|FTemp)
	MinK, MaxK uint16 // color temperature range; 0 when FTemp is not supported
	FW         [3]uint8
	HWRev      uint8
	Model      string
	Vendor     string
}

// FirmwareString is the firmware version as "major.minor.patch".
func (in *Info) FirmwareString() string {
	return fmt.Sprintf("%d.%d.%d", in.FW[0], in.FW[1], in.FW[2])
}

func (in *Info) validate() error {
	if in.Kind != KindLamp && in.Kind != KindSocket {
		return fmt.Errorf("%w: device kind %d", ErrBadValue, in.Kind)
	}
	if in.Caps&^fieldsKnown != 0 {
		return fmt.Errorf("%w: 0x%04X", ErrUnknownField, uint16(in.Caps&^fieldsKnown))
	}
	if in.Caps.Has(FTemp) && (in.MinK < 1000 || in.MaxK > 20000 || in.MinK >= in.MaxK) {
		return fmt.Errorf("%w: color temperature range %d..%d K", ErrBadValue, in.MinK, in.MaxK)
	}
	for _, s := range []string{in.Model, in.Vendor} {
		if len(s) > MaxText {
			return fmt.Errorf("%w: text %q longer than %d", ErrBadValue, s, MaxText)
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7E {
				return fmt.Errorf("%w: text %q is not printable ASCII", ErrBadValue, s)
			}
		}
	}
	return nil
}

// AppendInfo appends the payload encoding of in.
func AppendInfo(dst []byte, in *Info) ([]byte, error) {
	if err := in.validate(); err != nil {
		return dst, err
	}
	dst = append(dst, in.Kind)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(in.Caps))
	dst = binary.LittleEndian.AppendUint16(dst, in.MinK)
	dst = binary.LittleEndian.AppendUint16(dst, in.MaxK)
	dst = append(dst, in.FW[0], in.FW[1], in.FW[2], in.HWRev)
	dst = append(dst, byte(len(in.Model)))
	dst = append(dst, in.Model...)
	dst = append(dst, byte(len(in.Vendor)))
	dst = append(dst, in.Vendor...)
	return dst, nil
}

// DecodeInfo parses an INFO payload and validates it.
func DecodeInfo(p []byte) (Info, error) {
	r := reader{b: p}
	in := Info{Kind: r.u8(), Caps: Fields(r.u16()), MinK: r.u16(), MaxK: r.u16()}
	in.FW = [3]uint8{r.u8(), r.u8(), r.u8()}
	in.HWRev = r.u8()
	text := func() string {
		n := int(r.u8())
		if r.err == nil && n > MaxText {
			r.err = fmt.Errorf("%w: text of %d bytes", ErrBadValue, n)
			return ""
		}
		return string(r.take(n))
	}
	in.Model = text()
	in.Vendor = text()
	if err := r.done("info"); err != nil {
		return Info{}, err
	}
	if err := in.validate(); err != nil {
		return Info{}, err
	}
	return in, nil
}

// Error codes carried by an ERROR reply.
const (
	ErrCodeUnknownCmd  = 0x01 // the command is not implemented
	ErrCodeMalformed   = 0x02 // the payload could not be parsed
	ErrCodeRange       = 0x03 // a value is out of the device's range; detail: field bit index
	ErrCodeUnsupported = 0x04 // a field the device lacks; detail: field bit index
	ErrCodeBusy        = 0x05 // the device cannot act now (e.g. writing flash)
	ErrCodeInternal    = 0x06 // the device failed
)

// ErrorReply is the payload of an ERROR reply.
type ErrorReply struct {
	Code   uint8
	Detail uint8
}

func (e ErrorReply) Error() string {
	name := map[uint8]string{
		ErrCodeUnknownCmd:  "unknown command",
		ErrCodeMalformed:   "malformed payload",
		ErrCodeRange:       "value out of range",
		ErrCodeUnsupported: "unsupported field",
		ErrCodeBusy:        "busy",
		ErrCodeInternal:    "internal error",

		ErrCodeUpdateDisabled: "updates disabled (no vendor key)",
		ErrCodeWrongModel:     "image for another model",
		ErrCodeBadSignature:   "bad image signature",
		ErrCodeBadImage:       "bad image (CRC or format)",
		ErrCodeBadOffset:      "unexpected chunk offset",
		ErrCodeUpdateBusy:     "another update in progress",
		ErrCodeNoUpdate:       "no update in progress",
		ErrCodeIncomplete:     "image incomplete",
	}[e.Code]
	if name == "" {
		name = "error"
	}
	return fmt.Sprintf("wire: device error 0x%02X (%s), detail %d", e.Code, name, e.Detail)
}

// Payload encodes e.
func (e ErrorReply) Payload() []byte { return []byte{e.Code, e.Detail} }

// DecodeError parses an ERROR payload.
func DecodeError(p []byte) (ErrorReply, error) {
	r := reader{b: p}
	e := ErrorReply{Code: r.u8(), Detail: r.u8()}
	if err := r.done("error"); err != nil {
		return ErrorReply{}, err
	}
	return e, nil
}

// Blink durations for CmdBlink: one byte of seconds, 0 meaning the default.
const (
	BlinkDefault = 5
	BlinkMax     = 60
)

// DecodeBlink parses a BLINK payload into seconds (empty payload: default).
func DecodeBlink(p []byte) (int, error) {
	switch {
	case len(p) == 0:
		return BlinkDefault, nil
	case len(p) > 1:
		return 0, fmt.Errorf("%w: blink has %d extra", ErrTrailingBytes, len(p)-1)
	case p[0] == 0:
		return BlinkDefault, nil
	case p[0] > BlinkMax:
		return 0, fmt.Errorf("%w: blink for %d s", ErrBadValue, p[0])
	}
	return int(p[0]), nil
}
