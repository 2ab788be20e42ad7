package wire

import (
	"encoding/binary"
	"fmt"
)

// Firmware update requests (PROTOCOL.md section 12).
const (
	CmdUpdateBegin  Cmd = 0x10 // UpdateBegin -> UPDATE_STATUS
	CmdUpdateChunk  Cmd = 0x11 // UpdateChunk -> UPDATE_STATUS
	CmdUpdateCommit Cmd = 0x12 // u32 image CRC-32 -> ACK, then the device reboots
	CmdUpdateAbort  Cmd = 0x13 // none -> ACK

	ReplyUpdateStatus Cmd = 0x90 // UpdateStatus
)

// MaxChunk is the most image bytes one UPDATE_CHUNK carries: a frame's
// payload less the 4-byte offset.
const MaxChunk = MaxPayload - 4

// Update error codes carried by an ERROR reply.
const (
	ErrCodeUpdateDisabled = 0x07 // the device has no vendor key: updates refused
	ErrCodeWrongModel     = 0x08 // the image is for another model
	ErrCodeBadSignature   = 0x09 // the image's signature does not verify with the vendor key
	ErrCodeBadImage       = 0x0A // CRC-32 mismatch or malformed image at commit
	ErrCodeBadOffset      = 0x0B // a chunk beyond the next expected offset, or rewriting different bytes
	ErrCodeUpdateBusy     = 0x0C // another image's transfer is in progress
	ErrCodeNoUpdate       = 0x0D // no transfer in progress (or COMMIT for another image)
	ErrCodeIncomplete     = 0x0E // COMMIT before every byte arrived
)

// UpdateBegin is the payload of UPDATE_BEGIN: what image is coming.
type UpdateBegin struct {
	Size    uint32 // image length in bytes, the whole container
	CRC     uint32 // CRC-32 (IEEE) of the whole image container
	Version [3]uint8
	Model   string // 1..24 printable ASCII
}

func (u *UpdateBegin) validate() error {
	if u.Size == 0 {
		return fmt.Errorf("%w: image size 0", ErrBadValue)
	}
	if err := checkText(u.Model); err != nil {
		return err
	}
	if u.Model == "" {
		return fmt.Errorf("%w: empty model", ErrBadValue)
	}
	return nil
}

func checkText(s string) error {
	if len(s) > MaxText {
		return fmt.Errorf("%w: text %q longer than %d", ErrBadValue, s, MaxText)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return fmt.Errorf("%w: text %q is not printable ASCII", ErrBadValue, s)
		}
	}
	return nil
}

// AppendUpdateBegin appends the payload encoding of u.
func AppendUpdateBegin(dst []byte, u *UpdateBegin) ([]byte, error) {
	if err := u.validate(); err != nil {
		return dst, err
	}
	dst = binary.LittleEndian.AppendUint32(dst, u.Size)
	dst = binary.LittleEndian.AppendUint32(dst, u.CRC)
	dst = append(dst, u.Version[0], u.Version[1], u.Version[2], byte(len(u.Model)))
	return append(dst, u.Model...), nil
}

// DecodeUpdateBegin parses an UPDATE_BEGIN payload.
func DecodeUpdateBegin(p []byte) (UpdateBegin, error) {
	r := reader{b: p}
	u := UpdateBegin{Size: r.u32(), CRC: r.u32()}
	u.Version = [3]uint8{r.u8(), r.u8(), r.u8()}
	n := int(r.u8())
	if r.err == nil && n > MaxText {
		return UpdateBegin{}, fmt.Errorf("%w: model of %d bytes", ErrBadValue, n)
	}
	u.Model = string(r.take(n))
	if err := r.done("update begin"); err != nil {
		return UpdateBegin{}, err
	}
	if err := u.validate(); err != nil {
		return UpdateBegin{}, err
	}
	return u, nil
}

// UpdateChunk is the payload of UPDATE_CHUNK: image bytes at an offset.
type UpdateChunk struct {
	Offset uint32
	Data   []byte // 1..MaxChunk bytes
}

// AppendUpdateChunk appends the payload encoding of c.
func AppendUpdateChunk(dst []byte, c *UpdateChunk) ([]byte, error) {
	if len(c.Data) == 0 || len(c.Data) > MaxChunk {
		return dst, fmt.Errorf("%w: chunk of %d bytes, want 1..%d", ErrBadValue, len(c.Data), MaxChunk)
	}
	dst = binary.LittleEndian.AppendUint32(dst, c.Offset)
	return append(dst, c.Data...), nil
}

// DecodeUpdateChunk parses an UPDATE_CHUNK payload. Data aliases p.
func DecodeUpdateChunk(p []byte) (UpdateChunk, error) {
	if len(p) < 5 {
		return UpdateChunk{}, fmt.Errorf("%w: update chunk of %d bytes", ErrShortPayload, len(p))
	}
	if len(p) > 4+MaxChunk {
		return UpdateChunk{}, fmt.Errorf("%w: update chunk of %d bytes", ErrTrailingBytes, len(p))
	}
	return UpdateChunk{Offset: binary.LittleEndian.Uint32(p), Data: p[4:]}, nil
}

// UpdateStatus is the payload of UPDATE_STATUS, the reply to UPDATE_BEGIN
// and UPDATE_CHUNK: the next image offset the device expects, and the most
// image bytes it takes per chunk.
type UpdateStatus struct {
	Next     uint32
	MaxChunk uint8 // 1..MaxChunk
}

// AppendUpdateStatus appends the payload encoding of s.
func AppendUpdateStatus(dst []byte, s *UpdateStatus) ([]byte, error) {
	if s.MaxChunk == 0 || s.MaxChunk > MaxChunk {
		return dst, fmt.Errorf("%w: max chunk %d", ErrBadValue, s.MaxChunk)
	}
	dst = binary.LittleEndian.AppendUint32(dst, s.Next)
	return append(dst, s.MaxChunk), nil
}

// DecodeUpdateStatus parses an UPDATE_STATUS payload.
func DecodeUpdateStatus(p []byte) (UpdateStatus, error) {
	r := reader{b: p}
	s := UpdateStatus{Next: r.u32(), MaxChunk: r.u8()}
	if err := r.done("update status"); err != nil {
		return UpdateStatus{}, err
	}
	if s.MaxChunk == 0 || s.MaxChunk > MaxChunk {
		return UpdateStatus{}, fmt.Errorf("%w: max chunk %d", ErrBadValue, s.MaxChunk)
	}
	return s, nil
}

// AppendUpdateCommit appends the payload of UPDATE_COMMIT: the CRC-32 of
// the image being committed, so a stray commit can not apply another one.
func AppendUpdateCommit(dst []byte, crc uint32) []byte {
	return binary.LittleEndian.AppendUint32(dst, crc)
}

// DecodeUpdateCommit parses an UPDATE_COMMIT payload.
func DecodeUpdateCommit(p []byte) (uint32, error) {
	r := reader{b: p}
	crc := r.u32()
	if err := r.done("update commit"); err != nil {
		return 0, err
	}
	return crc, nil
}
