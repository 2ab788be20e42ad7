package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

// testKey is a vendor key for tests, fixed so fuzz seeds stay meaningful.
func testKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

func mustImage(t testing.TB, model string, ver [3]uint8, payload []byte, key ed25519.PrivateKey) []byte {
	t.Helper()
	b, err := BuildImage(model, ver, payload, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildImage_ParsesBackAndVerifies(t *testing.T) {
	payload := []byte("the new firmware\x00\x01\x02")
	b := mustImage(t, "HL-100", [3]uint8{1, 3, 0}, payload, testKey())
	if len(b) != ImageOverhead+len(payload) || string(b[:4]) != ImageMagic {
		t.Fatalf("image of %d bytes: % X", len(b), b[:8])
	}
	im, err := ParseImage(b)
	if err != nil {
		t.Fatal(err)
	}
	if im.Model != "HL-100" || im.VersionString() != "1.3.0" || !bytes.Equal(im.Payload, payload) || im.CRC != crc32.ChecksumIEEE(payload) {
		t.Errorf("parsed %+v", im)
	}
	if err := im.Verify(testKey().Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("own signature: %v", err)
	}
	if err := im.Verify(DemoVendorPublicKey()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("another vendor's key: %v", err)
	}
	if err := im.Verify(nil); !errors.Is(err, ErrNoVendorKey) {
		t.Errorf("no key: %v", err)
	}
	// An empty payload is a valid (if useless) image.
	if _, err := ParseImage(mustImage(t, "X", [3]uint8{}, nil, testKey())); err != nil {
		t.Errorf("empty payload: %v", err)
	}
}

func TestBuildImage_RejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		model   string
		payload []byte
		key     ed25519.PrivateKey
		want    error
	}{
		{"empty model", "", nil, testKey(), ErrImageField},
		{"long model", strings.Repeat("M", 25), nil, testKey(), ErrImageField},
		{"model with newline", "HL\n100", nil, testKey(), ErrImageField},
		{"oversize payload", "HL-100", make([]byte, MaxImagePayload+1), testKey(), ErrImageTooLarge},
		{"no key", "HL-100", nil, nil, ErrImageField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := BuildImage(tc.model, [3]uint8{1, 0, 0}, tc.payload, tc.key); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// imageCases are damaged images and the error each must give; the fuzz
// target is seeded from them.
func imageCases(t testing.TB) []struct {
	name string
	img  []byte
	want error
} {
	good := mustImage(t, "HL-100", [3]uint8{1, 3, 0}, bytes.Repeat([]byte("payload!"), 40), testKey())
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	return []struct {
		name string
		img  []byte
		want error
	}{
		{"good", good, nil},
		{"empty", nil, ErrBadMagic},
		{"bad magic", mod(func(b []byte) []byte { b[0] = 'X'; return b }), ErrBadMagic},
		{"only magic", good[:4], ErrImageTruncated},
		{"header cut", good[:ImageHeaderLen-1], ErrImageTruncated},
		{"payload cut", good[:ImageHeaderLen+10], ErrImageTruncated},
		{"signature cut", good[:len(good)-1], ErrImageTruncated},
		{"trailing byte", append(bytes.Clone(good), 0), ErrImageField},
		{"format 2", mod(func(b []byte) []byte { b[4] = 2; return b }), ErrImageField},
		{"model length 0", mod(func(b []byte) []byte { b[5] = 0; return b }), ErrImageField},
		{"model length 25", mod(func(b []byte) []byte { b[5] = 25; return b }), ErrImageField},
		{"model padding", mod(func(b []byte) []byte { b[29] = 'x'; return b }), ErrImageField},
		{"reserved", mod(func(b []byte) []byte { b[33] = 1; return b }), ErrImageField},
		{"length huge", mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[34:], 1<<31); return b }), ErrImageTooLarge},
		{"length short", mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[34:], 10); return b }), ErrImageField},
		{"payload bit flip", mod(func(b []byte) []byte { b[ImageHeaderLen+3] ^= 0x10; return b }), ErrImageCRC},
		{"crc field", mod(func(b []byte) []byte { b[38] ^= 1; return b }), ErrImageCRC},
		{"oversize", make([]byte, MaxImageSize+1), ErrImageTooLarge},
	}
}

func TestParseImage_RejectsDamagedImages(t *testing.T) {
	for _, tc := range imageCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseImage(tc.img)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestImage_Verify_RejectsTamperedSignedFields(t *testing.T) {
	good := mustImage(t, "HL-100", [3]uint8{1, 3, 0}, []byte("abc"), testKey())
	pub := testKey().Public().(ed25519.PublicKey)
	// Fields that still parse after the change, so only the signature can
	// catch it: the version, the model, the signature itself.
	for _, off := range []int{30, 31, 32, 6, len(good) - 1, len(good) - ImageSigLen} {
		b := bytes.Clone(good)
		b[off] ^= 0x01
		im, err := ParseImage(b)
		if err != nil {
			t.Fatalf("byte %d: %v", off, err)
		}
		if err := im.Verify(pub); !errors.Is(err, ErrBadSignature) {
			t.Errorf("byte %d changed: verify = %v", off, err)
		}
	}
}

func TestParseVersion_ParsesAndRejects(t *testing.T) {
	tests := []struct {
		in   string
		want [3]uint8
		ok   bool
	}{
		{"1.3.0", [3]uint8{1, 3, 0}, true}, {"255.0.255", [3]uint8{255, 0, 255}, true},
		{"1.3", [3]uint8{}, false}, {"1.3.0.1", [3]uint8{}, false}, {"1.256.0", [3]uint8{}, false},
		{"1.-1.0", [3]uint8{}, false}, {"a.b.c", [3]uint8{}, false}, {"", [3]uint8{}, false},
	}
	for _, tc := range tests {
		got, err := ParseVersion(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseVersion(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && VersionString(got) != tc.in {
			t.Errorf("VersionString(%v) = %q", got, VersionString(got))
		}
	}
}

func TestParsePrivateKey_ReadsEveryFormat(t *testing.T) {
	k := testKey()
	seed := k.Seed()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	formats := map[string][]byte{
		"raw seed":    seed,
		"raw key":     k,
		"hex seed":    []byte(hex.EncodeToString(seed) + "\n"),
		"hex key":     []byte(hex.EncodeToString(k)),
		"base64 seed": []byte(base64.StdEncoding.EncodeToString(seed) + "\n"),
		"pem":         pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	}
	for name, b := range formats {
		got, err := ParsePrivateKey(b)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string][]byte{
		"empty":        nil,
		"short":        []byte("abc"),
		"mismatch key": append(bytes.Clone(seed), make([]byte, 32)...),
		"bad pem":      []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
	}
	for name, b := range bad {
		if _, err := ParsePrivateKey(b); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestDemoVendorKey_IsStable(t *testing.T) {
	a, b := DemoVendorKey(), DemoVendorKey()
	if !bytes.Equal(a, b) || !bytes.Equal(a.Public().(ed25519.PublicKey), DemoVendorPublicKey()) {
		t.Error("demo key changes between calls")
	}
	im, err := ParseImage(mustImage(t, "HL-100", [3]uint8{1, 3, 0}, nil, a))
	if err != nil || im.Verify(DemoVendorPublicKey()) != nil {
		t.Errorf("demo-signed image does not verify with the demo public key: %v", err)
	}
}

// FuzzParseImage: no input may panic; whatever parses has consistent
// fields, and re-signing its fields with the test key reproduces the same
// header and payload.
func FuzzParseImage(f *testing.F) {
	for _, tc := range imageCases(f) {
		if len(tc.img) <= 4096 {
			f.Add(tc.img)
		}
	}
	pub := testKey().Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := ParseImage(b)
		if err != nil {
			if im.Payload != nil || im.Model != "" {
				t.Fatalf("error %v with a non-zero image", err)
			}
			return
		}
		if len(b) != ImageOverhead+len(im.Payload) || crc32.ChecksumIEEE(im.Payload) != im.CRC || len(im.Signature) != ImageSigLen {
			t.Fatalf("inconsistent image from %d bytes: %+v", len(b), im)
		}
		rebuilt, err := BuildImage(im.Model, im.Version, im.Payload, testKey())
		if err != nil {
			t.Fatalf("parsed image does not rebuild: %v", err)
		}
		if !bytes.Equal(rebuilt[:len(b)-ImageSigLen], b[:len(b)-ImageSigLen]) {
			t.Fatalf("rebuilt header differs")
		}
		if im.Verify(pub) == nil && !bytes.Equal(rebuilt, b) {
			t.Fatalf("a verified image differs from the signed one")
		}
	})
}

// TestBuildImage_MatchesProtocolExample checks the example image of
// PROTOCOL.md section 11 (Ed25519 signatures are deterministic) and the
// demo public key printed there.
func TestBuildImage_MatchesProtocolExample(t *testing.T) {
	const doc = `48 42 46 57 01 06 48 4C 2D 31 30 30 00 00 00 00
		00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 03
		00 00 03 00 00 00 7A 7A 6F ED 68 69 0A 6C C6 0E
		15 39 E7 21 B7 99 A4 6F 56 16 CE AD E5 D7 34 9A
		03 3B A5 09 A4 5B EE 1D B9 83 06 F7 FF 80 4A 96
		BB CF F8 4E 18 FE B7 80 D6 41 8E 40 5C 02 32 97
		F5 9A 5B C9 B1 C2 D4 BE FB F5 1B 84 08`
	want, err := hex.DecodeString(strings.Join(strings.Fields(doc), ""))
	if err != nil {
		t.Fatal(err)
	}
	got := mustImage(t, "HL-100", [3]uint8{1, 3, 0}, []byte("hi\n"), DemoVendorKey())
	if !bytes.Equal(got, want) {
		t.Errorf("image\n% X\nwant\n% X", got, want)
	}
	if pub := hex.EncodeToString(DemoVendorPublicKey()); pub != "23f5c4d5447853258f7aa0536cd4d71a2fb2f4f4cfcbf5e23bd21239d238b5c9" {
		t.Errorf("demo public key %s differs from PROTOCOL.md", pub)
	}
	if crc32.ChecksumIEEE([]byte("123456789")) != 0xCBF43926 {
		t.Error("not the IEEE CRC-32")
	}
}
