package firmware

import "errors"

var (
	// ErrBadAddress is returned when a device is given an address outside
	// 1..247, or two devices on one bus share an address.
	ErrBadAddress = errors.New("firmware: bad device address")

	// ErrClosed is returned when a harness is used after Close.
	ErrClosed = errors.New("firmware: harness closed")

	// ErrFlash is returned when a flash blob does not hold valid settings.
	ErrFlash = errors.New("firmware: flash blob invalid")

	// ErrBadMagic is returned by ParseImage when the bytes do not start
	// with the image magic "HBFW" (not a firmware image at all).
	ErrBadMagic = errors.New("firmware: not a firmware image (bad magic)")

	// ErrImageTruncated is returned by ParseImage when the image ends
	// before the length its header gives.
	ErrImageTruncated = errors.New("firmware: image truncated")

	// ErrImageTooLarge is returned when an image or payload exceeds
	// MaxImageSize (a device's flash slot).
	ErrImageTooLarge = errors.New("firmware: image too large")

	// ErrImageCRC is returned by ParseImage when the payload does not match
	// the CRC-32 in the header.
	ErrImageCRC = errors.New("firmware: image payload CRC mismatch")

	// ErrImageField is returned when an image header field is malformed:
	// unknown format version, bad model string, non-zero reserved bytes,
	// bytes after the signature, a bad version string.
	ErrImageField = errors.New("firmware: malformed image header")

	// ErrBadSignature is returned when an image's Ed25519 signature does
	// not verify with the vendor key.
	ErrBadSignature = errors.New("firmware: image signature invalid")

	// ErrNoVendorKey is returned when a signature is checked without a
	// usable vendor public key.
	ErrNoVendorKey = errors.New("firmware: no vendor key")

	// ErrBadKey is returned by ParsePrivateKey for a key file it can not
	// read.
	ErrBadKey = errors.New("firmware: bad key file")
)
