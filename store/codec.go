package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"strings"
	"time"

	"hubd/hub"
)

// A snapshot record, version 2, all integers varint-encoded unless noted:
//
//	version    byte (2; 1 is read too: the same without caps)
//	flags      byte: bit 0 State.On, bit 1 Online; other bits zero
//	set        uvarint FieldSet
//	mode       byte ColorMode
//	last seen  varint unix seconds, uvarint nanoseconds
//	per field in set, in field order:
//	  value    brightness, temperature: varint; color: varint h, s, v;
//	           metering: 8 bytes little-endian float64; on: nothing (flags)
//	  updated  varint seconds and varint nanoseconds relative to last seen
//	seq        uvarint
//	info       manufacturer, model, hardware, firmware: uvarint length, bytes
//	caps       uvarint FieldSet the device reported (0: none); with the
//	           temperature field, varint min and max kelvin
//	crc        4 bytes big-endian CRC-32C of everything before it
//
// The CRC catches bytes flipped on disk: bbolt checksums only its meta pages.
const (
	recordVersion   = 2
	recordVersionV1 = 1 // before caps; still read
)

const (
	flagOn     = 1 << 0
	flagOnline = 1 << 1
	flagsKnown = flagOn | flagOnline

	// maxInfoLen bounds each Info string in a record; longer ones are cut.
	maxInfoLen = 1024
	// maxRecordLen bounds a record: every field, four full info strings.
	maxRecordLen = 64 + hub.NumFields*(40) + 4*(maxInfoLen+3) + 16 + 16

	// Times are kept between the years 1 and 9999.
	minUnix = -62135596800
	maxUnix = 253402300799
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendSnapshot appends the record for s to b.
func appendSnapshot(b []byte, s *hub.Snapshot) []byte {
	start := len(b)
	st := &s.State
	var flags byte
	if st.On {
		flags |= flagOn
	}
	if s.Online {
		flags |= flagOnline
	}
	set := st.Set & (1<<hub.NumFields - 1)
	b = append(b, recordVersion, flags)
	b = binary.AppendUvarint(b, uint64(set))
	b = append(b, byte(st.Mode))
	lastSec, lastNsec := unixOf(s.LastSeen)
	b = binary.AppendVarint(b, lastSec)
	b = binary.AppendUvarint(b, uint64(lastNsec))
	for f := range hub.Field(hub.NumFields) {
		if !set.Has(f) {
			continue
		}
		switch f {
		case hub.FieldOn:
		case hub.FieldBrightness:
			b = binary.AppendVarint(b, int64(st.Brightness))
		case hub.FieldColor:
			b = binary.AppendVarint(b, int64(st.Color.H))
			b = binary.AppendVarint(b, int64(st.Color.S))
			b = binary.AppendVarint(b, int64(st.Color.V))
		case hub.FieldTemperatureK:
			b = binary.AppendVarint(b, int64(st.TemperatureK))
		default:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st.Float(f)))
		}
		sec, nsec := unixOf(st.Updated[f].Time())
		b = binary.AppendVarint(b, sec-lastSec)
		b = binary.AppendVarint(b, nsec-lastNsec)
	}
	b = binary.AppendUvarint(b, s.Seq)
	for _, str := range [4]string{s.Info.Manufacturer, s.Info.Model, s.Info.Hardware, s.Info.Firmware} {
		if len(str) > maxInfoLen {
			str = strings.ToValidUTF8(str[:maxInfoLen], "")
		}
		b = binary.AppendUvarint(b, uint64(len(str)))
		b = append(b, str...)
	}
	caps := s.Caps
	if !caps.Valid() {
		caps = hub.Caps{}
	}
	b = binary.AppendUvarint(b, uint64(caps.Fields))
	if caps.Fields.Has(hub.FieldTemperatureK) {
		b = binary.AppendVarint(b, int64(caps.TempMinK))
		b = binary.AppendVarint(b, int64(caps.TempMaxK))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// unixOf splits t into seconds and nanoseconds, clamped to the years
// 1..9999; the zero time maps to minUnix, 0.
func unixOf(t time.Time) (int64, int64) {
	sec := t.Unix()
	if sec < minUnix {
		return minUnix, 0
	}
	if sec > maxUnix {
		return maxUnix, 0
	}
	return sec, int64(t.Nanosecond())
}

func timeOf(sec, nsec int64) time.Time {
	if sec == minUnix && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, nsec).UTC()
}

// errRecord builds an ErrBadRecord error.
func errRecord(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRecord, fmt.Sprintf(format, a...))
}

// decoder reads a record and remembers the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = errRecord("truncated or malformed %s", what)
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a varint that must lie in [lo, hi].
func (d *decoder) int(what string, lo, hi int64) int {
	v := d.varint(what)
	if d.err == nil && (v < lo || v > hi) {
		d.err = errRecord("%s %d is outside %d..%d", what, v, lo, hi)
	}
	return int(v)
}

func (d *decoder) float(what string) float64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail(what)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// time reads an absolute time (seconds, unsigned nanoseconds) or, when rel,
// one relative to base (signed offsets).
func (d *decoder) time(what string, rel bool, baseSec, baseNsec int64) (sec, nsec int64) {
	sec = d.varint(what)
	if rel {
		nsec = d.varint(what)
	} else {
		u := d.uvarint(what)
		nsec = int64(min(u, 1e9))
	}
	if d.err != nil {
		return 0, 0
	}
	if rel {
		// Offsets are bounded before adding, so the sums cannot overflow.
		if sec < minUnix-maxUnix || sec > maxUnix-minUnix || nsec <= -1e9 || nsec >= 1e9 {
			d.err = errRecord("%s is out of range", what)
			return 0, 0
		}
		sec += baseSec
		nsec += baseNsec
	}
	if sec < minUnix || sec > maxUnix || nsec < 0 || nsec >= 1e9 {
		d.err = errRecord("%s is out of range", what)
		return 0, 0
	}
	return sec, nsec
}

// caps reads a capability report; one that hub.Caps.Valid refuses is an
// error.
func (d *decoder) caps() hub.Caps {
	var c hub.Caps
	fs := d.uvarint("caps")
	if d.err == nil && fs >= 1<<hub.NumFields {
		d.err = errRecord("unknown fields in caps %#x", fs)
	}
	c.Fields = hub.FieldSet(fs)
	if c.Fields.Has(hub.FieldTemperatureK) {
		c.TempMinK = d.int("caps min temperature", 1000, 20000)
		c.TempMaxK = d.int("caps max temperature", 1000, 20000)
	}
	if d.err == nil && !c.Valid() {
		d.err = errRecord("caps %s are not a capability report", c)
	}
	return c
}

func (d *decoder) string(what string) string {
	n := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if n > maxInfoLen || n > uint64(len(d.b)) {
		d.err = errRecord("%s of %d bytes", what, n)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// decodeSnapshot decodes a record written by appendSnapshot. It returns an
// ErrBadRecord error for anything else: it never panics and never returns
// values outside the ranges hub.State.Validate accepts.
func decodeSnapshot(rec []byte) (hub.Snapshot, error) {
	var s hub.Snapshot
	if len(rec) < 5 {
		return s, errRecord("%d bytes is too short", len(rec))
	}
	if len(rec) > maxRecordLen {
		return s, errRecord("%d bytes is too long", len(rec))
	}
	if rec[0] != recordVersion && rec[0] != recordVersionV1 {
		return s, errRecord("unknown version %d", rec[0])
	}
	body := rec[:len(rec)-4]
	if want, got := binary.BigEndian.Uint32(rec[len(rec)-4:]), crc32.Checksum(body, castagnoli); want != got {
		return s, errRecord("checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	d := &decoder{b: body[1:]}
	flags := d.byte("flags")
	if flags&^flagsKnown != 0 {
		return s, errRecord("unknown flags %#x", flags)
	}
	set := d.uvarint("field set")
	if set >= 1<<hub.NumFields {
		return s, errRecord("unknown fields in set %#x", set)
	}
	mode := hub.ColorMode(d.byte("color mode"))
	if mode > hub.ColorModeTemperature {
		return s, errRecord("unknown color mode %d", mode)
	}
	st := &s.State
	st.Set = hub.FieldSet(set)
	st.Mode = mode
	st.On = flags&flagOn != 0
	s.Online = flags&flagOnline != 0
	lastSec, lastNsec := d.time("last seen", false, 0, 0)
	if d.err != nil {
		return hub.Snapshot{}, d.err
	}
	s.LastSeen = timeOf(lastSec, lastNsec)
	for _, f := range st.Set.List() {
		switch f {
		case hub.FieldOn:
		case hub.FieldBrightness:
			st.Brightness = d.int("brightness", 0, 100)
		case hub.FieldColor:
			st.Color.H = d.int("hue", 0, 360)
			st.Color.S = d.int("saturation", 0, 100)
			st.Color.V = d.int("value", 0, 100)
		case hub.FieldTemperatureK:
			st.TemperatureK = d.int("temperature", 1000, 20000)
		case hub.FieldPower:
			st.Power = d.float("power")
		case hub.FieldVoltage:
			st.Voltage = d.float("voltage")
		case hub.FieldCurrent:
			st.Current = d.float("current")
		case hub.FieldEnergy:
			st.Energy = d.float("energy")
		}
		sec, nsec := d.time(f.String()+" time", true, lastSec, lastNsec)
		st.Updated[f] = hub.StampOf(timeOf(sec, nsec))
	}
	s.Seq = d.uvarint("seq")
	s.Info.Manufacturer = d.string("manufacturer")
	s.Info.Model = d.string("model")
	s.Info.Hardware = d.string("hardware")
	s.Info.Firmware = d.string("firmware")
	if rec[0] >= recordVersion {
		s.Caps = d.caps()
	}
	if d.err != nil {
		return hub.Snapshot{}, d.err
	}
	if len(d.b) != 0 {
		return hub.Snapshot{}, errRecord("%d trailing bytes", len(d.b))
	}
	if err := st.Validate(); err != nil {
		return hub.Snapshot{}, errRecord("%v", err)
	}
	return s, nil
}
