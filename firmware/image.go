package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"hubd/firmware/wire"
)

// Firmware image container, version 1 (PROTOCOL.md section 11). All
// integers little-endian:
//
//	offset size
//	0      4    magic "HBFW"
//	4      1    format version, 1
//	5      1    model length n, 1..24
//	6      24   model, n printable ASCII bytes, zero padded
//	30     3    firmware version major, minor, patch
//	33     1    reserved, 0
//	34     4    payload length
//	38     4    CRC-32 (IEEE 802.3, as hash/crc32.IEEE) of the payload
//	42     len  payload
//	42+len 64   Ed25519 signature over bytes 0 .. 42+len-1
const (
	ImageMagic      = "HBFW"
	ImageFormat     = 1
	ImageHeaderLen  = 42
	ImageSigLen     = ed25519.SignatureSize
	ImageOverhead   = ImageHeaderLen + ImageSigLen
	MaxImageSize    = 1 << 20 // a device's flash slot
	MaxImagePayload = MaxImageSize - ImageOverhead
	maxModelLen     = wire.MaxText
)

// Image is a parsed firmware image. Its byte slices alias the input of
// ParseImage.
type Image struct {
	Model     string
	Version   [3]uint8
	CRC       uint32 // CRC-32 (IEEE) of Payload, as the header gives it
	Payload   []byte
	Signature []byte
	signed    []byte // header and payload: what the signature covers
}

// VersionString is the version as "major.minor.patch".
func (im *Image) VersionString() string { return VersionString(im.Version) }

// VersionString formats a version as "major.minor.patch".
func VersionString(v [3]uint8) string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

// ParseVersion parses "major.minor.patch", each 0..255.
func ParseVersion(s string) ([3]uint8, error) {
	var v [3]uint8
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("%w: version %q is not major.minor.patch", ErrImageField, s)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return v, fmt.Errorf("%w: version %q: part %q is not 0..255", ErrImageField, s, p)
		}
		v[i] = uint8(n)
	}
	return v, nil
}

// Verify checks the image's signature against a vendor's public key.
func (im *Image) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key of %d bytes", ErrNoVendorKey, len(pub))
	}
	if !ed25519.Verify(pub, im.signed, im.Signature) {
		return fmt.Errorf("%w: image %s %s", ErrBadSignature, im.Model, im.VersionString())
	}
	return nil
}

func checkModel(model string) error {
	if model == "" || len(model) > maxModelLen {
		return fmt.Errorf("%w: model %q must be 1..%d characters", ErrImageField, model, maxModelLen)
	}
	for i := 0; i < len(model); i++ {
		if model[i] < 0x20 || model[i] > 0x7E {
			return fmt.Errorf("%w: model %q is not printable ASCII", ErrImageField, model)
		}
	}
	return nil
}

// BuildImage makes a signed image of payload for devices of model.
func BuildImage(model string, ver [3]uint8, payload []byte, key ed25519.PrivateKey) ([]byte, error) {
	if err := checkModel(model); err != nil {
		return nil, err
	}
	if len(payload) > MaxImagePayload {
		return nil, fmt.Errorf("%w: payload of %d bytes, at most %d", ErrImageTooLarge, len(payload), MaxImagePayload)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key of %d bytes, want %d", ErrImageField, len(key), ed25519.PrivateKeySize)
	}
	b := make([]byte, 0, ImageOverhead+len(payload))
	b = append(b, ImageMagic...)
	b = append(b, ImageFormat, byte(len(model)))
	var m [maxModelLen]byte
	copy(m[:], model)
	b = append(b, m[:]...)
	b = append(b, ver[0], ver[1], ver[2], 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(payload))
	b = append(b, payload...)
	return append(b, ed25519.Sign(key, b)...), nil
}

// ParseImage checks an image's structure and payload CRC. It does not
// check the signature: that needs the vendor key (Image.Verify).
func ParseImage(b []byte) (Image, error) {
	if len(b) > MaxImageSize {
		return Image{}, fmt.Errorf("%w: %d bytes, at most %d", ErrImageTooLarge, len(b), MaxImageSize)
	}
	if len(b) < 4 || string(b[:4]) != ImageMagic {
		n := min(len(b), 4)
		return Image{}, fmt.Errorf("%w: starts with % X", ErrBadMagic, b[:n])
	}
	if len(b) < ImageHeaderLen {
		return Image{}, fmt.Errorf("%w: %d bytes, the header alone is %d", ErrImageTruncated, len(b), ImageHeaderLen)
	}
	if b[4] != ImageFormat {
		return Image{}, fmt.Errorf("%w: format version %d, this build reads %d", ErrImageField, b[4], ImageFormat)
	}
	n := int(b[5])
	if n == 0 || n > maxModelLen {
		return Image{}, fmt.Errorf("%w: model length %d", ErrImageField, n)
	}
	model := string(b[6 : 6+n])
	if err := checkModel(model); err != nil {
		return Image{}, err
	}
	for _, c := range b[6+n : 30] {
		if c != 0 {
			return Image{}, fmt.Errorf("%w: model padding is not zero", ErrImageField)
		}
	}
	if b[33] != 0 {
		return Image{}, fmt.Errorf("%w: reserved byte is %d", ErrImageField, b[33])
	}
	size := binary.LittleEndian.Uint32(b[34:])
	if size > MaxImagePayload {
		return Image{}, fmt.Errorf("%w: header says %d payload bytes, at most %d", ErrImageTooLarge, size, MaxImagePayload)
	}
	want := ImageOverhead + int(size)
	switch {
	case len(b) < want:
		return Image{}, fmt.Errorf("%w: %d bytes, header says %d", ErrImageTruncated, len(b), want)
	case len(b) > want:
		return Image{}, fmt.Errorf("%w: %d bytes after the signature", ErrImageField, len(b)-want)
	}
	im := Image{
		Model:     model,
		Version:   [3]uint8{b[30], b[31], b[32]},
		CRC:       binary.LittleEndian.Uint32(b[38:]),
		Payload:   b[ImageHeaderLen : ImageHeaderLen+int(size)],
		Signature: b[ImageHeaderLen+int(size):],
		signed:    b[:ImageHeaderLen+int(size)],
	}
	if got := crc32.ChecksumIEEE(im.Payload); got != im.CRC {
		return Image{}, fmt.Errorf("%w: payload CRC-32 %08X, header says %08X", ErrImageCRC, got, im.CRC)
	}
	return im, nil
}

// CrashMarker makes an emulated device "crash" when it boots an image
// whose payload begins with it: the way to test rollback. Emulator only;
// real firmware payloads are opaque to the protocol.
var CrashMarker = []byte("HUBD-EMU-CRASH!\n")

// demoSeed derives the demo vendor key. DEMO ONLY: the private key is
// public, anyone can sign images for devices that trust it.
var demoSeed = sha256.Sum256([]byte("hubd demo vendor key: for emulated devices only, never for production"))

// DemoVendorKey is the fixed vendor key of the emulated demo devices
// (devsim serial, hubd demo). Demo only: its private half is in the source.
func DemoVendorKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(demoSeed[:]) }

// DemoVendorPublicKey is the public half of DemoVendorKey.
func DemoVendorPublicKey() ed25519.PublicKey {
	return DemoVendorKey().Public().(ed25519.PublicKey)
}

// ParsePrivateKey reads an Ed25519 private key from a key file: PEM
// ("PRIVATE KEY", PKCS #8, as `openssl genpkey -algorithm ed25519` writes
// it), or the 32-byte seed or 64-byte key as raw bytes, hex or base64.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: PEM key: %v", ErrBadKey, err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: PEM key is %T, not Ed25519", ErrBadKey, k)
		}
		return ek, nil
	}
	raw := b
	t := string(bytes.TrimSpace(b))
	keyLen := func(n int) bool { return n == ed25519.SeedSize || n == ed25519.PrivateKeySize }
	if h, err := hex.DecodeString(t); err == nil && keyLen(len(h)) {
		raw = h
	} else if d, err := base64.StdEncoding.DecodeString(t); err == nil && keyLen(len(d)) {
		raw = d
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		k := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !bytes.Equal(k, raw) {
			return nil, fmt.Errorf("%w: the public half does not match the seed", ErrBadKey)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: %d bytes is neither a 32-byte seed nor a 64-byte key (raw, hex, base64 or PEM)", ErrBadKey, len(raw))
}
