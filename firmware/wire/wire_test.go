package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// unhex turns "A5 03 01" into bytes.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// frameTable holds the example frames of PROTOCOL.md: the same bytes, so
// the document and the code can not drift apart.
var frameTable = []struct {
	name  string
	hex   string
	frame Frame
}{
	{"identify", "A5 03 01 10 01 9D A0", Frame{Addr: 1, Seq: 0x10, Cmd: CmdIdentify}},
	{"info lamp", "A5 1A 01 10 81 01 0F 00 8C 0A 64 19 01 02 00 01 06 48 4C 2D 31 30 30 04 48 75 62 64 70 F2",
		Frame{Addr: 1, Seq: 0x10, Cmd: ReplyInfo, Payload: []byte{0x01, 0x0F, 0x00, 0x8C, 0x0A, 0x64, 0x19, 1, 2, 0, 1, 6, 'H', 'L', '-', '1', '0', '0', 4, 'H', 'u', 'b', 'd'}}},
	{"get state", "A5 03 02 11 02 2C 31", Frame{Addr: 2, Seq: 0x11, Cmd: CmdGetState}},
	{"socket state", "A5 14 02 11 82 F1 00 01 70 17 00 00 E4 59 05 01 00 00 D2 04 00 00 AF D1",
		Frame{Addr: 2, Seq: 0x11, Cmd: ReplyState, Payload: []byte{0xF1, 0x00, 0x01, 0x70, 0x17, 0, 0, 0xE4, 0x59, 0x05, 0x01, 0, 0, 0xD2, 0x04, 0, 0}}},
	{"set on+brightness", "A5 07 01 12 03 03 00 01 28 57 95", Frame{Addr: 1, Seq: 0x12, Cmd: CmdSetState, Payload: []byte{0x03, 0x00, 0x01, 0x28}}},
	{"set hsv", "A5 09 01 13 03 04 00 42 01 64 28 B1 43", Frame{Addr: 1, Seq: 0x13, Cmd: CmdSetState, Payload: []byte{0x04, 0x00, 0x42, 0x01, 0x64, 0x28}}},
	{"set kelvin", "A5 07 01 14 03 08 00 94 11 FA 95", Frame{Addr: 1, Seq: 0x14, Cmd: CmdSetState, Payload: []byte{0x08, 0x00, 0x94, 0x11}}},
	{"lamp state", "A5 0E 01 14 82 0F 01 01 28 42 01 64 28 94 11 02 BD E8",
		Frame{Addr: 1, Seq: 0x14, Cmd: ReplyState, Payload: []byte{0x0F, 0x01, 0x01, 0x28, 0x42, 0x01, 0x64, 0x28, 0x94, 0x11, 0x02}}},
	{"blink", "A5 04 01 15 04 05 07 3B", Frame{Addr: 1, Seq: 0x15, Cmd: CmdBlink, Payload: []byte{5}}},
	{"ack", "A5 03 01 15 80 5E 90", Frame{Addr: 1, Seq: 0x15, Cmd: ReplyAck}},
	{"poll", "A5 03 02 16 05 6F C3", Frame{Addr: 2, Seq: 0x16, Cmd: CmdPoll}},
	{"poll no news", "A5 03 02 16 80 AE 60", Frame{Addr: 2, Seq: 0x16, Cmd: ReplyAck}},
	{"error range", "A5 05 01 17 8F 03 03 49 20", Frame{Addr: 1, Seq: 0x17, Cmd: ReplyError, Payload: []byte{3, 3}}},
	{"broadcast all off", "A5 06 FF 18 03 01 00 00 18 89", Frame{Addr: Broadcast, Seq: 0x18, Cmd: CmdSetState, Payload: []byte{0x01, 0x00, 0x00}}},

	// Firmware update (PROTOCOL.md section 12).
	{"update begin", "A5 15 01 20 10 6A 04 00 00 26 39 F4 CB 01 03 00 06 48 4C 2D 31 30 30 92 BB",
		Frame{Addr: 1, Seq: 0x20, Cmd: CmdUpdateBegin, Payload: []byte{0x6A, 0x04, 0, 0, 0x26, 0x39, 0xF4, 0xCB, 1, 3, 0, 6, 'H', 'L', '-', '1', '0', '0'}}},
	{"update status 0", "A5 08 01 20 90 00 00 00 00 3C 90 7F", Frame{Addr: 1, Seq: 0x20, Cmd: ReplyUpdateStatus, Payload: []byte{0, 0, 0, 0, 60}}},
	{"update chunk 0", "A5 0F 01 21 11 00 00 00 00 48 42 46 57 01 06 48 4C ED C4",
		Frame{Addr: 1, Seq: 0x21, Cmd: CmdUpdateChunk, Payload: []byte{0, 0, 0, 0, 'H', 'B', 'F', 'W', 1, 6, 'H', 'L'}}},
	{"update status 8", "A5 08 01 21 90 08 00 00 00 3C 61 7E", Frame{Addr: 1, Seq: 0x21, Cmd: ReplyUpdateStatus, Payload: []byte{8, 0, 0, 0, 60}}},
	{"update chunk last", "A5 09 01 22 11 68 04 00 00 AB CD 68 F5", Frame{Addr: 1, Seq: 0x22, Cmd: CmdUpdateChunk, Payload: []byte{0x68, 0x04, 0, 0, 0xAB, 0xCD}}},
	{"update status end", "A5 08 01 22 90 6A 04 00 00 3C AA 86", Frame{Addr: 1, Seq: 0x22, Cmd: ReplyUpdateStatus, Payload: []byte{0x6A, 0x04, 0, 0, 60}}},
	{"update commit", "A5 07 01 23 12 26 39 F4 CB 72 6F", Frame{Addr: 1, Seq: 0x23, Cmd: CmdUpdateCommit, Payload: []byte{0x26, 0x39, 0xF4, 0xCB}}},
	{"update committed", "A5 03 01 23 80 49 30", Frame{Addr: 1, Seq: 0x23, Cmd: ReplyAck}},
	{"update error wrong model", "A5 05 01 20 8F 08 00 00 65", Frame{Addr: 1, Seq: 0x20, Cmd: ReplyError, Payload: []byte{ErrCodeWrongModel, 0}}},
	{"update error bad signature", "A5 05 01 23 8F 09 00 01 B1", Frame{Addr: 1, Seq: 0x23, Cmd: ReplyError, Payload: []byte{ErrCodeBadSignature, 0}}},
	{"update error bad offset", "A5 05 01 24 8F 0B 00 01 A5", Frame{Addr: 1, Seq: 0x24, Cmd: ReplyError, Payload: []byte{ErrCodeBadOffset, 0}}},
	{"update error busy", "A5 05 01 25 8F 0C 00 02 69", Frame{Addr: 1, Seq: 0x25, Cmd: ReplyError, Payload: []byte{ErrCodeUpdateBusy, 0}}},
	{"update error disabled", "A5 05 02 26 8F 07 00 41 1D", Frame{Addr: 2, Seq: 0x26, Cmd: ReplyError, Payload: []byte{ErrCodeUpdateDisabled, 0}}},
	{"update abort", "A5 03 01 27 13 0B 9D", Frame{Addr: 1, Seq: 0x27, Cmd: CmdUpdateAbort}},
}

// crcBitwise is CRC-16/MODBUS computed bit by bit from its definition, to
// check the table-driven CRC16 against.
func crcBitwise(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc ^= uint16(x)
		for range 8 {
			lsb := crc & 1
			crc >>= 1
			if lsb != 0 {
				crc ^= 0xA001
			}
		}
	}
	return crc
}

func TestCRC16_MatchesPublishedCheckValues(t *testing.T) {
	if got := CRC16([]byte("123456789")); got != 0x4B37 {
		t.Errorf("CRC16(123456789) = %04X, want 4B37 (CRC-16/MODBUS check)", got)
	}
	// The Modbus RTU frame "01 05 00 00 FF 00 8C 3A": CRC sent low byte first.
	if got := CRC16([]byte{0x01, 0x05, 0x00, 0x00, 0xFF, 0x00}); got != 0x3A8C {
		t.Errorf("CRC16(modbus example) = %04X, want 3A8C", got)
	}
	for n := range 300 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + n)
		}
		if CRC16(b) != crcBitwise(b) {
			t.Fatalf("table and bitwise CRC differ for %d bytes", n)
		}
	}
}

func TestEncode_MatchesFrameTable(t *testing.T) {
	for _, tc := range frameTable {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tc.hex); !bytes.Equal(got, want) {
				t.Errorf("Encode = % X\nwant     % X", got, want)
			}
		})
	}
}

func TestDecoder_Next_DecodesFrameTable(t *testing.T) {
	for _, tc := range frameTable {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			d.Write(unhex(t, tc.hex))
			f, ok := d.Next()
			if !ok {
				t.Fatalf("no frame; crc errors %d, bad length %d", d.CRCErrors, d.BadLength)
			}
			if f.Addr != tc.frame.Addr || f.Seq != tc.frame.Seq || f.Cmd != tc.frame.Cmd || !bytes.Equal(f.Payload, tc.frame.Payload) {
				t.Errorf("got %v, want %v", f, tc.frame)
			}
			if _, ok := d.Next(); ok || d.Pending() != 0 {
				t.Errorf("decoder has leftovers: %d bytes", d.Pending())
			}
		})
	}
}

func TestDecoder_Next_ResyncsAfterGarbage(t *testing.T) {
	var stream []byte
	for _, tc := range frameTable {
		// Noise that includes SOF bytes and plausible lengths.
		stream = append(stream, 0x00, 0xA5, 0x05, 0x13, 0xA5, 0xFF, 0x42)
		stream = append(stream, unhex(t, tc.hex)...)
	}
	stream = append(stream, 0xA5) // a dangling SOF at the end
	// Feed one byte at a time: the worst case for a streaming decoder.
	var d Decoder
	var got []Frame
	for _, b := range stream {
		d.Write([]byte{b})
		for {
			f, ok := d.Next()
			if !ok {
				break
			}
			got = append(got, f)
		}
	}
	if len(got) != len(frameTable) {
		t.Fatalf("decoded %d frames, want %d", len(got), len(frameTable))
	}
	for i, tc := range frameTable {
		if got[i].Cmd != tc.frame.Cmd || got[i].Seq != tc.frame.Seq || !bytes.Equal(got[i].Payload, tc.frame.Payload) {
			t.Errorf("frame %d = %v, want %v", i, got[i], tc.frame)
		}
	}
	if d.Skipped == 0 {
		t.Error("Skipped stayed 0 although noise was fed")
	}
}

func TestDecoder_Next_CountsCRCErrors(t *testing.T) {
	good := unhex(t, "A5 07 01 12 03 03 00 01 28 57 95")
	bad := append([]byte(nil), good...)
	bad[7] ^= 0x01 // one flipped bit in the payload
	var d Decoder
	d.Write(bad)
	d.Write(good)
	f, ok := d.Next()
	if !ok || f.Seq != 0x12 || !bytes.Equal(f.Payload, []byte{0x03, 0x00, 0x01, 0x28}) {
		t.Fatalf("good frame after a corrupt one: %v %v", f, ok)
	}
	if d.CRCErrors != 1 {
		t.Errorf("CRCErrors = %d, want 1", d.CRCErrors)
	}
}

func TestDecoder_Next_WaitsForTruncatedFrame(t *testing.T) {
	full := unhex(t, "A5 09 01 13 03 04 00 42 01 64 28 B1 43")
	for cut := 1; cut < len(full); cut++ {
		var d Decoder
		d.Write(full[:cut])
		if f, ok := d.Next(); ok {
			t.Fatalf("cut at %d: decoded %v from a partial frame", cut, f)
		}
		d.Write(full[cut:])
		if _, ok := d.Next(); !ok {
			t.Fatalf("cut at %d: frame not decoded once complete", cut)
		}
	}
	var d Decoder
	d.Write(full[:5])
	d.Reset()
	d.Write(full)
	if _, ok := d.Next(); !ok {
		t.Error("frame after Reset not decoded")
	}
}

func TestEncode_RejectsOversizePayload(t *testing.T) {
	_, err := Encode(Frame{Addr: 1, Cmd: CmdSetState, Payload: make([]byte, MaxPayload+1)})
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("err = %v, want ErrPayloadTooLarge", err)
	}
	if _, err := Encode(Frame{Addr: 1, Cmd: CmdSetState, Payload: make([]byte, MaxPayload)}); err != nil {
		t.Fatalf("max payload: %v", err)
	}
}

func TestDecodeState_RoundTrips(t *testing.T) {
	states := []State{
		{Fields: FOn, On: true},
		{Fields: FOn | FBrightness, Brightness: 100},
		{Fields: FColor, Hue: 360, Sat: 100, Val: 0},
		{Fields: FTemp | FMode, Kelvin: 2700, Mode: ModeTemp},
		{Fields: FPower | FVoltage | FCurrent | FEnergy, PowerCW: 368000, VoltageCV: 65535, CurrentMA: 16000, EnergyWh: 1<<32 - 1},
		{},
	}
	for _, s := range states {
		p, err := AppendState(nil, &s)
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		got, err := DecodeState(p)
		if err != nil {
			t.Fatalf("%+v: decode: %v", s, err)
		}
		if got != s {
			t.Errorf("round trip %+v -> %+v", s, got)
		}
	}
}

func TestDecodeState_RejectsBadPayloads(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", ErrShortPayload},
		{"half mask", "01", ErrShortPayload},
		{"missing value", "0100", ErrShortPayload},
		{"short color", "0400 4201 64", ErrShortPayload},
		{"trailing", "0100 01 00", ErrTrailingBytes},
		{"on is 2", "0100 02", ErrBadValue},
		{"brightness 101", "0200 65", ErrBadValue},
		{"hue 361", "0400 6901 00 00", ErrBadValue},
		{"kelvin 500", "0800 F401", ErrBadValue},
		{"mode 3", "0001 03", ErrBadValue},
		{"unknown bit", "0002", ErrUnknownField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeState(unhex(t, tc.hex))
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeInfo_RoundTripsAndRejects(t *testing.T) {
	in := Info{Kind: KindSocket, Caps: FOn | FPower | FVoltage | FCurrent | FEnergy, FW: [3]uint8{2, 0, 7}, HWRev: 3, Model: "HS-16", Vendor: "Hubd"}
	p, err := AppendInfo(nil, &in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeInfo(p)
	if err != nil || got != in {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for cut := range len(p) {
		if _, err := DecodeInfo(p[:cut]); err == nil {
			t.Errorf("truncated to %d bytes: no error", cut)
		}
	}
	bad := []Info{
		{Kind: 9},
		{Kind: KindLamp, Caps: FTemp, MinK: 6500, MaxK: 2700},
		{Kind: KindLamp, Model: strings.Repeat("x", MaxText+1)},
		{Kind: KindLamp, Model: "bad\x00"},
	}
	for _, b := range bad {
		if _, err := AppendInfo(nil, &b); err == nil {
			t.Errorf("%+v: no error", b)
		}
	}
}

func TestDecodeBlink_AcceptsDefaultAndRejectsRange(t *testing.T) {
	tests := []struct {
		p    []byte
		want int
		ok   bool
	}{
		{nil, BlinkDefault, true}, {[]byte{0}, BlinkDefault, true}, {[]byte{3}, 3, true},
		{[]byte{61}, 0, false}, {[]byte{1, 2}, 0, false},
	}
	for _, tc := range tests {
		got, err := DecodeBlink(tc.p)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("DecodeBlink(% X) = %d, %v", tc.p, got, err)
		}
	}
}

// FuzzDecoder feeds arbitrary bytes to the decoder and every payload parser:
// nothing may panic, every frame returned must re-encode to a frame with a
// valid CRC, and a known frame appended after the garbage must still be
// found.
func FuzzDecoder(f *testing.F) {
	for _, tc := range frameTable {
		f.Add(unhex(f, tc.hex))
	}
	f.Add([]byte{0xA5, 0xA5, 0x03, 0xA5})
	marker := unhex(f, "A5 03 07 EE 05 00 00")
	marker = marker[:len(marker)-2]
	crc := CRC16(marker[1:])
	marker = append(marker, byte(crc), byte(crc>>8))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decoder
		d.Write(data)
		for {
			fr, ok := d.Next()
			if !ok {
				break
			}
			if len(fr.Payload) > MaxPayload {
				t.Fatalf("payload of %d bytes", len(fr.Payload))
			}
			DecodeState(fr.Payload)
			DecodeInfo(fr.Payload)
			DecodeError(fr.Payload)
			DecodeBlink(fr.Payload)
			checkUpdatePayloads(t, fr.Payload)
			if _, err := Encode(fr); err != nil {
				t.Fatalf("re-encode %v: %v", fr, err)
			}
		}
		// A partial frame may still be waiting; a gap (Reset) ends it, and
		// then a good frame must come through.
		d.Reset()
		d.Write(marker)
		fr, ok := d.Next()
		if !ok || fr.Addr != 7 || fr.Seq != 0xEE || fr.Cmd != CmdPoll {
			t.Fatalf("marker frame lost after garbage: %v %v", fr, ok)
		}
		// Payload parsers must also survive the raw bytes.
		DecodeState(data)
		DecodeInfo(data)
		checkUpdatePayloads(t, data)
	})
}

// FuzzDecodeState checks that any payload that decodes re-encodes to the
// same bytes.
func FuzzDecodeState(f *testing.F) {
	for _, tc := range frameTable {
		if tc.frame.Cmd == CmdSetState || tc.frame.Cmd == ReplyState {
			f.Add(tc.frame.Payload)
		}
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		s, err := DecodeState(p)
		if err != nil {
			return
		}
		out, err := AppendState(nil, &s)
		if err != nil {
			t.Fatalf("decoded state does not encode: %v", err)
		}
		if !bytes.Equal(out, p) {
			t.Fatalf("re-encoded % X, input % X", out, p)
		}
	})
}
