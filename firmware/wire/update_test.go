package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// checkUpdatePayloads runs every update payload parser on p: none may
// panic, and whatever decodes must re-encode to the same bytes.
func checkUpdatePayloads(t *testing.T, p []byte) {
	t.Helper()
	if b, err := DecodeUpdateBegin(p); err == nil {
		out, err := AppendUpdateBegin(nil, &b)
		if err != nil || !bytes.Equal(out, p) {
			t.Fatalf("update begin % X re-encodes to % X (%v)", p, out, err)
		}
	}
	if c, err := DecodeUpdateChunk(p); err == nil {
		out, err := AppendUpdateChunk(nil, &c)
		if err != nil || !bytes.Equal(out, p) {
			t.Fatalf("update chunk % X re-encodes to % X (%v)", p, out, err)
		}
	}
	if s, err := DecodeUpdateStatus(p); err == nil {
		out, err := AppendUpdateStatus(nil, &s)
		if err != nil || !bytes.Equal(out, p) {
			t.Fatalf("update status % X re-encodes to % X (%v)", p, out, err)
		}
	}
	if crc, err := DecodeUpdateCommit(p); err == nil {
		if out := AppendUpdateCommit(nil, crc); !bytes.Equal(out, p) {
			t.Fatalf("update commit % X re-encodes to % X", p, out)
		}
	}
}

func TestDecodeUpdate_FrameTablePayloads(t *testing.T) {
	for _, tc := range frameTable {
		p := tc.frame.Payload
		switch tc.frame.Cmd {
		case CmdUpdateBegin:
			b, err := DecodeUpdateBegin(p)
			if err != nil || b.Size != 0x46A || b.CRC != 0xCBF43926 || b.Version != [3]uint8{1, 3, 0} || b.Model != "HL-100" {
				t.Errorf("%s: %+v %v", tc.name, b, err)
			}
		case CmdUpdateChunk:
			c, err := DecodeUpdateChunk(p)
			if err != nil || len(c.Data) == 0 {
				t.Errorf("%s: %+v %v", tc.name, c, err)
			}
		case ReplyUpdateStatus:
			s, err := DecodeUpdateStatus(p)
			if err != nil || s.MaxChunk != MaxChunk {
				t.Errorf("%s: %+v %v", tc.name, s, err)
			}
		case CmdUpdateCommit:
			if crc, err := DecodeUpdateCommit(p); err != nil || crc != 0xCBF43926 {
				t.Errorf("%s: %08X %v", tc.name, crc, err)
			}
		case ReplyError:
			e, err := DecodeError(p)
			if err != nil || strings.Contains(e.Error(), "(error)") {
				t.Errorf("%s: error code without a name: %v %v", tc.name, e, err)
			}
		}
		if s := tc.frame.Cmd.String(); strings.HasPrefix(s, "CMD(") {
			t.Errorf("%s: command %s has no name", tc.name, s)
		}
	}
}

func TestDecodeUpdate_RejectsBadPayloads(t *testing.T) {
	tests := []struct {
		name   string
		decode func([]byte) error
		hex    string
		want   error
	}{
		{"begin empty", beginErr, "", ErrShortPayload},
		{"begin no model", beginErr, "6A040000 2639F4CB 010300", ErrShortPayload},
		{"begin empty model", beginErr, "6A040000 2639F4CB 010300 00", ErrBadValue},
		{"begin size 0", beginErr, "00000000 2639F4CB 010300 01 48", ErrBadValue},
		{"begin model too long", beginErr, "6A040000 2639F4CB 010300 19" + strings.Repeat("41", 25), ErrBadValue},
		{"begin model not ascii", beginErr, "6A040000 2639F4CB 010300 02 4800", ErrBadValue},
		{"begin model cut", beginErr, "6A040000 2639F4CB 010300 06 484C", ErrShortPayload},
		{"begin trailing", beginErr, "6A040000 2639F4CB 010300 01 48 00", ErrTrailingBytes},
		{"chunk no data", chunkErr, "00000000", ErrShortPayload},
		{"chunk short offset", chunkErr, "0000", ErrShortPayload},
		{"chunk too long", chunkErr, "00000000" + strings.Repeat("00", MaxChunk+1), ErrTrailingBytes},
		{"status short", statusErr, "00000000", ErrShortPayload},
		{"status chunk 0", statusErr, "00000000 00", ErrBadValue},
		{"status chunk 61", statusErr, "00000000 3D", ErrBadValue},
		{"status trailing", statusErr, "00000000 3C 00", ErrTrailingBytes},
		{"commit short", commitErr, "2639F4", ErrShortPayload},
		{"commit trailing", commitErr, "2639F4CB 00", ErrTrailingBytes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.decode(unhex(t, tc.hex)); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := AppendUpdateChunk(nil, &UpdateChunk{Data: make([]byte, MaxChunk+1)}); !errors.Is(err, ErrBadValue) {
		t.Errorf("encoding an oversize chunk: %v", err)
	}
	// The longest chunk fits a frame.
	p, err := AppendUpdateChunk(nil, &UpdateChunk{Offset: 1 << 20, Data: make([]byte, MaxChunk)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Encode(Frame{Addr: 1, Cmd: CmdUpdateChunk, Payload: p}); err != nil {
		t.Errorf("a full chunk does not fit a frame: %v", err)
	}
}

func beginErr(p []byte) error  { _, err := DecodeUpdateBegin(p); return err }
func chunkErr(p []byte) error  { _, err := DecodeUpdateChunk(p); return err }
func statusErr(p []byte) error { _, err := DecodeUpdateStatus(p); return err }
func commitErr(p []byte) error { _, err := DecodeUpdateCommit(p); return err }
