package wire

import "errors"

var (
	// ErrPayloadTooLarge is returned when a frame's payload is longer than
	// MaxPayload bytes.
	ErrPayloadTooLarge = errors.New("wire: payload too large")

	// ErrShortPayload is returned when a payload ends before the message it
	// carries is complete.
	ErrShortPayload = errors.New("wire: payload truncated")

	// ErrTrailingBytes is returned when a payload carries bytes after the end
	// of its message.
	ErrTrailingBytes = errors.New("wire: trailing bytes after message")

	// ErrBadValue is returned when a field of a message is outside its range.
	ErrBadValue = errors.New("wire: value out of range")

	// ErrUnknownField is returned when a state mask names a field this
	// version of the protocol does not define.
	ErrUnknownField = errors.New("wire: unknown field in mask")

	// ErrBadAddress is returned when a frame is addressed to a reserved
	// address.
	ErrBadAddress = errors.New("wire: bad address")
)
