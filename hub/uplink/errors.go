package uplink

import "errors"

var (
	// ErrInvalidOptions is returned by New when a required option is
	// missing or a value is out of range.
	ErrInvalidOptions = errors.New("uplink: invalid options")

	// ErrTLS is returned by New when the CA file or the client certificate
	// and key cannot be loaded.
	ErrTLS = errors.New("uplink: tls setup")

	// ErrBadCommand is returned for a command payload that cannot be
	// decoded or names nothing to do.
	ErrBadCommand = errors.New("uplink: bad command")

	// ErrRefused is returned for a command that is decoded but not
	// accepted: commands are off, it was retained, or it is too old.
	ErrRefused = errors.New("uplink: command refused")
)
