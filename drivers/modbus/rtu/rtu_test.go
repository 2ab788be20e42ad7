package rtu

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Published values: the CRC-16/MODBUS check value of "123456789" (0x4B37,
// from the CRC catalogue) and example frames from the Modbus serial line
// specification and vendor manuals.
func TestCRC_MatchesPublishedValues(t *testing.T) {
	if got := CRC([]byte("123456789")); got != 0x4B37 {
		t.Fatalf("CRC(123456789) = %04x, want 4b37", got)
	}
	for _, tc := range []struct{ frame string }{
		{"01 03 0000 000A C5CD"},
		{"11 03 006B 0003 7687"},
		{"01 05 0000 FF00 8C3A"},
		{"01 04 0000 0002 71CB"},
	} {
		b := unhex(t, tc.frame)
		if _, _, err := ParseFrame(b); err != nil {
			t.Errorf("%s: %v", tc.frame, err)
		}
		b[1] ^= 1
		if _, _, err := ParseFrame(b); !errors.Is(err, ErrCRC) {
			t.Errorf("%s with a flipped bit: err %v, want ErrCRC", tc.frame, err)
		}
	}
}

func TestAppendFrame_RequestsEncodeAsPublished(t *testing.T) {
	for _, tc := range []struct {
		unit byte
		req  Request
		want string
	}{
		{0x01, Request{ReadHolding, 0, 10}, "01 03 0000 000A C5CD"},
		{0x11, Request{ReadHolding, 0x6B, 3}, "11 03 006B 0003 7687"},
		{0x01, Request{WriteCoil, 0, CoilOn}, "01 05 0000 FF00 8C3A"},
		{0x01, Request{ReadInput, 0, 2}, "01 04 0000 0002 71CB"},
	} {
		pdu, err := AppendRequest(nil, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendFrame(nil, tc.unit, pdu)
		if err != nil {
			t.Fatal(err)
		}
		if want := unhex(t, tc.want); !bytes.Equal(got, want) {
			t.Errorf("%+v: % x, want % x", tc.req, got, want)
		}
	}
}

func TestAppendRequest_RefusesBadRequests(t *testing.T) {
	for _, tc := range []struct {
		req  Request
		want error
	}{
		{Request{ReadHolding, 0, 0}, ErrQuantity},
		{Request{ReadHolding, 0, 126}, ErrQuantity},
		{Request{ReadCoils, 0, 2001}, ErrQuantity},
		{Request{ReadInput, 0xFFFF, 2}, ErrQuantity},
		{Request{WriteCoil, 3, 1}, ErrCoilValue},
		{Request{0x2B, 0, 1}, ErrFunction},
	} {
		if _, err := AppendRequest(nil, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%+v: err %v, want %v", tc.req, err, tc.want)
		}
	}
}

// The frames' CRCs were computed with pymodbus's utilities.computeCRC, an
// independent implementation; the first three are the specification's own.
func TestParseResponse_Table(t *testing.T) {
	for _, tc := range []struct {
		name  string
		req   Request
		frame string
		data  string
		err   error
		exc   byte
	}{
		{"holding registers", Request{ReadHolding, 0x6B, 3}, "11 03 06 022B 0000 0064 C8BA", "022b00000064", nil, 0},
		{"coils", Request{ReadCoils, 0x13, 19}, "11 01 03 CD 6B 05 4012", "cd6b05", nil, 0},
		{"coil echo", Request{WriteCoil, 0xAC, CoilOn}, "11 05 00AC FF00 4E8B", "", nil, 0},
		{"illegal address", Request{ReadInput, 0x100, 2}, "01 84 02 C2C1", "", nil, ExIllegalAddress},
		{"slave busy", Request{WriteCoil, 0, CoilOn}, "01 85 06 C292", "", nil, ExDeviceBusy},
		{"wrong count", Request{ReadHolding, 0, 2}, "01 03 02 0001 7984", "", ErrMismatch, 0},
		{"wrong echo", Request{WriteRegister, 1, 50}, "01 06 0001 0033 981F", "", ErrMismatch, 0},
		{"other function", Request{ReadHolding, 0, 1}, "01 04 02 0001 78F0", "", ErrMismatch, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := unhex(t, tc.frame)
			if got := ResponseLen(tc.req, frame[:3]); got != len(frame) {
				t.Errorf("ResponseLen = %d, want %d", got, len(frame))
			}
			unit, pdu, err := ParseFrame(frame)
			if err != nil {
				t.Fatalf("ParseFrame: %v", err)
			}
			if unit != frame[0] {
				t.Errorf("unit %d", unit)
			}
			data, err := ParseResponse(tc.req, pdu)
			var ex *ExceptionError
			switch {
			case tc.exc != 0:
				if !errors.As(err, &ex) || ex.Code != tc.exc {
					t.Fatalf("err %v, want exception %d", err, tc.exc)
				}
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case hex.EncodeToString(data) != tc.data:
				t.Fatalf("data %x, want %s", data, tc.data)
			}
		})
	}
}

func TestFrameGap_FollowsTheSerialLineSpec(t *testing.T) {
	// 9600 8N1: 10 bits a character, 1.0417 ms; 3.5 of them 3.646 ms.
	if g := FrameGap(9600, CharBits(false, 1)); g < 3640*time.Microsecond || g > 3650*time.Microsecond {
		t.Errorf("9600 8N1 gap %v", g)
	}
	// 19200 8E1: 11 bits, 3.5 characters = 2.005 ms.
	if g := FrameGap(19200, CharBits(true, 1)); g < 2000*time.Microsecond || g > 2010*time.Microsecond {
		t.Errorf("19200 8E1 gap %v", g)
	}
	if g := FrameGap(115200, CharBits(false, 1)); g != 1750*time.Microsecond {
		t.Errorf("115200 gap %v, want the fixed 1.75 ms", g)
	}
}

// FuzzFrame: any bytes either fail to parse with an error or round-trip:
// the parsed PDU, re-framed, is the input again; parsing the PDU as a
// request or as the response to any request never panics.
func FuzzFrame(f *testing.F) {
	for _, s := range []string{"01030000000AC5CD", "11030006022B00000064C8BA", "01840 2C2C1", "1101 03CD6B05 4242", "01", ""} {
		b, _ := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		unit, pdu, err := ParseFrame(b)
		if err != nil {
			return
		}
		again, err := AppendFrame(nil, unit, pdu)
		if err == nil && !bytes.Equal(again, b) {
			t.Fatalf("% x re-framed as % x", b, again)
		}
		if req, err := ParseRequest(pdu); err == nil {
			enc, err := AppendRequest(nil, req)
			if err != nil || !bytes.Equal(enc, pdu) {
				t.Fatalf("request % x re-encoded as % x (%v)", pdu, enc, err)
			}
		}
		for _, f := range []FuncCode{ReadCoils, ReadHolding, ReadInput, WriteCoil, WriteRegister} {
			ParseResponse(Request{Func: f, Addr: 1, Value: 2}, pdu)
		}
		ResponseLen(Request{Func: ReadInput, Value: 2}, b)
		RequestLen(b)
	})
}

// FuzzRequest: every request the encoder accepts survives the wire, and
// the slave's response to it parses back to the same data.
func FuzzRequest(f *testing.F) {
	f.Add(byte(3), uint16(0), uint16(10), byte(1))
	f.Add(byte(1), uint16(19), uint16(19), byte(0xAA))
	f.Add(byte(5), uint16(7), uint16(CoilOn), byte(0))
	f.Fuzz(func(t *testing.T, fc byte, addr, val uint16, fill byte) {
		req := Request{FuncCode(fc), addr, val}
		pdu, err := AppendRequest(nil, req)
		if err != nil {
			return
		}
		frame, err := AppendFrame(nil, 9, pdu)
		if err != nil {
			t.Fatal(err)
		}
		_, p, err := ParseFrame(frame)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseRequest(p)
		if err != nil || got != req {
			t.Fatalf("%+v came back as %+v (%v)", req, got, err)
		}
		var data []byte
		if req.Func != WriteCoil && req.Func != WriteRegister {
			data = bytes.Repeat([]byte{fill}, DataLen(req))
		}
		resp, err := AppendResponse(nil, req, data)
		if err != nil {
			t.Fatal(err)
		}
		rf, _ := AppendFrame(nil, 9, resp)
		if n := ResponseLen(req, rf); n != len(rf) {
			t.Fatalf("ResponseLen %d for a %d byte frame", n, len(rf))
		}
		back, err := ParseResponse(req, resp)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("response data %x, want %x (%v)", back, data, err)
		}
	})
}
