package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"hubd/hub"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func fullSnapshot() hub.Snapshot {
	at := time.Date(2026, 5, 17, 9, 30, 15, 123456789, time.UTC)
	s := hub.Snapshot{LastSeen: at, Online: true, Seq: 1<<40 + 7,
		Info: hub.Info{Manufacturer: "Acme", Model: "L-100", Hardware: "rev3", Firmware: "1.2.3"},
		Caps: hub.Caps{Fields: hub.LightFields, TempMinK: 2200, TempMaxK: 6500}}
	st := &s.State
	st.Set = hub.LightFields.Union(hub.MeterFields)
	st.On = true
	st.Brightness = 73
	st.Color = hub.HSV{H: 359, S: 100, V: 1}
	st.TemperatureK = 2700
	st.Mode = hub.ColorModeTemperature
	st.Power, st.Voltage, st.Current, st.Energy = 11.5, 229.9, -0.05, 12345.678
	for i, f := range st.Set.List() {
		st.Updated[f] = hub.StampOf(at.Add(-time.Duration(i) * 1500 * time.Millisecond))
	}
	return s
}

// codecCases are snapshots that must survive encode and decode unchanged.
func codecCases() map[string]hub.Snapshot {
	early := fullSnapshot()
	early.LastSeen = time.Unix(0, 0).UTC()
	for f := range hub.Field(hub.NumFields) {
		early.State.Updated[f] = hub.StampOf(time.Unix(0, 999999999).UTC())
	}
	future := fullSnapshot()
	future.State.Updated[hub.FieldOn] = hub.StampOf(future.LastSeen.Add(1000 * time.Hour))
	offline := snap(3, 9)
	offline.Online = false
	ctOnly := snap(5, 2)
	ctOnly.Caps = hub.Caps{Fields: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK), TempMinK: 3000, TempMaxK: 6000}
	plugCaps := snap(6, 3)
	plugCaps.Caps = hub.Caps{Fields: hub.MeterFields.With(hub.FieldOn)}
	longInfo := snap(4, 1)
	longInfo.Info.Model = strings.Repeat("ü", maxInfoLen/2)
	return map[string]hub.Snapshot{
		"zero":          {},
		"full":          fullSnapshot(),
		"lamp":          snap(1, 42),
		"offline":       offline,
		"unix epoch":    early,
		"updated later": future,
		"long info":     longInfo,
		"ct caps":       ctOnly,
		"plug caps":     plugCaps,
		"socket": {Online: true, Seq: 1, LastSeen: time.Date(2030, 1, 1, 0, 0, 0, 1, time.UTC),
			State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldEnergy), Energy: 999999999.5,
				Updated: [hub.NumFields]hub.Stamp{hub.FieldOn: hub.StampOf(time.Date(2030, 1, 1, 0, 0, 0, 1, time.UTC)), hub.FieldEnergy: hub.StampOf(time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC))}}},
	}
}

func sameSnapshot(a, b hub.Snapshot) bool {
	if !a.LastSeen.Equal(b.LastSeen) {
		return false
	}
	for f := range hub.Field(hub.NumFields) {
		if a.State.Updated[f] != b.State.Updated[f] {
			return false
		}
	}
	a.LastSeen, b.LastSeen = time.Time{}, time.Time{}
	a.State.Updated, b.State.Updated = [hub.NumFields]hub.Stamp{}, [hub.NumFields]hub.Stamp{}
	return reflect.DeepEqual(a, b)
}

func TestCodec_RoundTrip_KeepsEveryField(t *testing.T) {
	for name, s := range codecCases() {
		t.Run(name, func(t *testing.T) {
			rec := appendSnapshot(nil, &s)
			got, err := decodeSnapshot(rec)
			if err != nil {
				t.Fatalf("decode: %v (record %x)", err, rec)
			}
			if !sameSnapshot(got, s) {
				t.Errorf("round trip changed the snapshot:\n got %+v\nwant %+v", got, s)
			}
			if s.LastSeen.IsZero() != got.LastSeen.IsZero() || (s.LastSeen.IsZero() && got.LastSeen != (time.Time{})) {
				t.Errorf("zero LastSeen not kept as the zero time: %v", got.LastSeen)
			}
		})
	}
}

func TestCodec_Encode_CutsOversizeInfo(t *testing.T) {
	s := snap(1, 1)
	s.Info.Firmware = strings.Repeat("x", 10*maxInfoLen)
	got, err := decodeSnapshot(appendSnapshot(nil, &s))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Info.Firmware) != maxInfoLen {
		t.Errorf("firmware of %d bytes kept as %d, want %d", 10*maxInfoLen, len(got.Info.Firmware), maxInfoLen)
	}
}

func TestCodec_Encode_IsCompact(t *testing.T) {
	s := fullSnapshot()
	if n := len(appendSnapshot(nil, &s)); n > 140 {
		t.Errorf("full snapshot record is %d bytes, want <= 140", n)
	}
	l := snap(1, 1000)
	if n := len(appendSnapshot(nil, &l)); n > 60 {
		t.Errorf("lamp record is %d bytes, want <= 60", n)
	}
}

// TestCodec_Golden freezes the on-disk record format: a change here makes
// files written by older hubd unreadable, so it needs a new recordVersion.
func TestCodec_Golden(t *testing.T) {
	s := fullSnapshot()
	got := hex.EncodeToString(appendSnapshot(nil, &s)) + "\n"
	path := filepath.Join("testdata", "snapshot-v2.hex")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("record format changed:\n got %s\nwant %s", got, want)
	}
	dec, err := decodeSnapshot(mustHex(t, strings.TrimSpace(string(want))))
	if err != nil || !sameSnapshot(dec, s) {
		t.Errorf("golden record decodes to %+v, %v", dec, err)
	}
}

// Records of version 1, written before capability reports were kept, are
// still read: the same snapshot, without caps.
func TestCodec_Version1_StillRead(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "snapshot-v1.hex"))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decodeSnapshot(mustHex(t, strings.TrimSpace(string(want))))
	s := fullSnapshot()
	s.Caps = hub.Caps{}
	if err != nil || !sameSnapshot(dec, s) {
		t.Errorf("version 1 record decodes to %+v, %v", dec, err)
	}
}

// A record whose caps are not a capability report is refused.
func TestCodec_Decode_RejectsBadCaps(t *testing.T) {
	base := snap(1, 1)
	base.Caps = hub.Caps{Fields: hub.Fields(hub.FieldOn)}
	rec := appendSnapshot(nil, &base)
	body := rec[:len(rec)-5] // without the CRC and the caps byte (0x01)
	temp := byte(1 << hub.FieldTemperatureK)
	kelvin := func(b []byte, ks ...int64) []byte {
		for _, k := range ks {
			b = binary.AppendVarint(b, k)
		}
		return b
	}
	for name, c := range map[string]struct {
		tail []byte
		want string
	}{
		"unknown field":       {binary.AppendUvarint(nil, 1<<hub.NumFields), "unknown fields in caps"},
		"range upside down":   {kelvin([]byte{temp}, 6000, 3000), "not a capability report"},
		"temperature 999":     {kelvin([]byte{temp}, 999, 6000), "caps min temperature"},
		"truncated range":     {kelvin([]byte{temp}, 3000), "caps max temperature"},
		"trailing after caps": {[]byte{1, 0}, "trailing"},
	} {
		rec := withCRC(append(bytes.Clone(body), c.tail...))
		if _, err := decodeSnapshot(rec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withCRC appends a valid CRC to a record body, so that tables and the
// fuzzer reach the field decoders.
func withCRC(body []byte) []byte {
	return binary.BigEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
}

// badRecords are record bodies (CRC appended by the test) that must be
// rejected, with a word the error must contain.
var badRecords = []struct {
	name, body, want string
}{
	{"empty", "", "too short"},
	{"version 0", "00 00 00 00 00 00 00", "unknown version"},
	{"version 3", "03 00 00 00 00 00 00", "unknown version"},
	{"unknown flags", "01 04 00 00 00 00 00 00 00 00 00 00", "unknown flags"},
	{"unknown field bit", "01 00 80 02 00 00 00 00 00 00 00 00 00", "unknown fields"},
	{"bad color mode", "01 00 00 03 00 00 00 00 00 00 00 00", "color mode"},
	{"truncated last seen", "01 00 00 00 ff", "last seen"},
	{"nanoseconds too big", "01 00 00 00 00 80 94 eb dc 03 00 00 00 00 00", "out of range"},
	{"year 10000", "01 00 00 00 80 80 80 80 80 80 01 00 00 00 00 00 00", "out of range"},
	{"brightness 101", "01 00 02 00 00 00 ca 01 00 00 00 00 00 00 00", "brightness"},
	{"negative brightness", "01 00 02 00 00 00 01 00 00 00 00 00 00 00", "brightness"},
	{"temperature 999", "01 00 08 00 00 00 ce 0f 00 00 00 00 00 00 00", "temperature"},
	{"hue 361", "01 00 04 00 00 00 d2 05 00 00 00 00 00 00 00 00 00", "hue"},
	{"NaN power", "01 00 10 00 00 00 01 00 00 00 00 00 f8 7f 00 00 00 00 00 00 00", "invalid value"},
	{"infinite energy", "01 00 80 01 00 00 00 00 00 00 00 00 00 f0 7f 00 00 00 00 00 00 00", "invalid value"},
	{"missing field value", "01 00 02 00 00 00", "brightness"},
	{"missing seq", "01 00 00 00 00 00", "seq"},
	{"missing info", "01 00 00 00 00 00 00 00 00", "hardware"},
	{"info longer than record", "01 00 00 00 00 00 00 05 41", "manufacturer"},
	{"info over limit", "01 00 00 00 00 00 00 81 08", "manufacturer"},
	{"trailing bytes", "01 00 00 00 00 00 00 00 00 00 00 ff", "trailing"},
	{"field time offset huge", "01 00 02 00 00 00 02 ff ff ff ff ff ff ff ff 7f 00 00 00 00 00 00 00", "out of range"},
	{"varint overflow", "01 00 ff ff ff ff ff ff ff ff ff ff 01", "malformed"},
}

func TestCodec_Decode_RejectsBadRecords(t *testing.T) {
	for _, tt := range badRecords {
		t.Run(tt.name, func(t *testing.T) {
			rec := withCRC(mustHex(t, tt.body))
			if tt.body == "" {
				rec = nil
			}
			_, err := decodeSnapshot(rec)
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("decode(%x) = %v, want ErrBadRecord", rec, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestCodec_Decode_RejectsEveryFlippedByteAndTruncation(t *testing.T) {
	s := fullSnapshot()
	rec := appendSnapshot(nil, &s)
	for i := range rec {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(rec)
			bad[i] ^= mask
			if _, err := decodeSnapshot(bad); !errors.Is(err, ErrBadRecord) {
				t.Errorf("byte %d ^ %#x: err = %v, want ErrBadRecord", i, mask, err)
			}
		}
	}
	for n := range len(rec) {
		if _, err := decodeSnapshot(rec[:n]); !errors.Is(err, ErrBadRecord) {
			t.Errorf("truncated to %d bytes: err = %v", n, err)
		}
	}
	if _, err := decodeSnapshot(make([]byte, maxRecordLen+1)); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("oversize record: %v", err)
	}
}

// FuzzDecodeSnapshot feeds raw records (the CRC mostly rejects them) and,
// with a valid CRC appended, bodies that reach every field decoder. A record
// that decodes must hold valid values and re-encode to itself.
func FuzzDecodeSnapshot(f *testing.F) {
	for _, s := range codecCases() {
		rec := appendSnapshot(nil, &s)
		f.Add(rec)
		f.Add(rec[:len(rec)-4])
	}
	for _, tt := range badRecords {
		b, _ := hex.DecodeString(strings.ReplaceAll(tt.body, " ", ""))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, rec := range [][]byte{data, withCRC(data)} {
			s, err := decodeSnapshot(rec)
			if err != nil {
				if !errors.Is(err, ErrBadRecord) {
					t.Fatalf("error %v does not wrap ErrBadRecord", err)
				}
				continue
			}
			if verr := s.State.Validate(); verr != nil {
				t.Fatalf("decoded an invalid state: %v", verr)
			}
			again, err := decodeSnapshot(appendSnapshot(nil, &s))
			if err != nil || !sameSnapshot(again, s) {
				t.Fatalf("re-encoding changed %+v into %+v, %v", s, again, err)
			}
		}
	})
}

var badSites = []struct{ name, doc, want string }{
	{"empty", "", "site"},
	{"not json", "garbage", "invalid character"},
	{"wrong version", `{"version":2,"buildings":[]}`, "unknown version"},
	{"null building", `{"version":1,"buildings":[null]}`, "null node"},
	{"duplicate id", `{"version":1,"buildings":[{"id":"a","name":"A"},{"id":"a","name":"B"}]}`, "used twice"},
	{"no name", `{"version":1,"buildings":[{"id":"a"}]}`, "no name"},
	{"device twice", `{"version":1,"buildings":[{"id":"a","name":"A","devices":["d"],"children":[{"id":"b","name":"B","devices":["d"]}]}]}`, "is in both"},
	{"too deep", `{"version":1,"buildings":[` + strings.Repeat(`{"id":"x","name":"x","children":[`, 16) + strings.Repeat(`]}`, 16) + `]}`, "deeper"},
	{"wrong types", `{"version":"1"}`, "cannot unmarshal"},
	{"truncated", `{"version":1,"buildings":[{"id":"a","na`, "unexpected end"},
}

func TestCodec_DecodeSite_RejectsBadDocuments(t *testing.T) {
	for _, tt := range badSites {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeSite([]byte(tt.doc))
			if !errors.Is(err, ErrBadRecord) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decodeSite = %v, want ErrBadRecord saying %q", err, tt.want)
			}
		})
	}
	if _, err := decodeSite(make([]byte, maxSiteLen+1)); !errors.Is(err, ErrBadRecord) {
		t.Errorf("oversize site: %v", err)
	}
}

func FuzzDecodeSite(f *testing.F) {
	data, _ := encodeSite(demoSite())
	f.Add(data)
	for _, tt := range badSites {
		f.Add([]byte(tt.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		site, err := decodeSite(data)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error %v does not wrap ErrBadRecord", err)
			}
			return
		}
		if err := site.Validate(nil); err != nil {
			t.Fatalf("decoded an invalid site: %v", err)
		}
		enc, err := encodeSite(site)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeSite(enc)
		if err != nil {
			t.Fatalf("re-encoded site does not decode: %v", err)
		}
		if enc2, _ := encodeSite(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encoding changed the site:\n%s\n%s", enc, enc2)
		}
	})
}
