package mqtt

import (
	"fmt"
	"strings"
)

// Dialect names, as used in device addresses.
const (
	DialectTasmota = "tasmota"
	DialectZ2M     = "z2m"
	DialectShelly1 = "shelly"
	DialectShelly2 = "shelly2"
)

// ParseAddress splits a device address "dialect:name" and checks that the
// name can be used in MQTT topics.
func ParseAddress(addr string) (dialect, name string, err error) {
	dialect, name, ok := strings.Cut(addr, ":")
	if !ok {
		return "", "", fmt.Errorf("%w: %q: want dialect:name", ErrBadAddress, addr)
	}
	switch dialect {
	case DialectTasmota, DialectShelly1, DialectShelly2:
		if strings.Contains(name, "/") {
			return "", "", fmt.Errorf("%w: %q: name may not contain '/'", ErrBadAddress, addr)
		}
	case DialectZ2M:
		// Friendly names may contain '/', but not at the ends or doubled.
		if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
			return "", "", fmt.Errorf("%w: %q: bad friendly name", ErrBadAddress, addr)
		}
	default:
		return "", "", fmt.Errorf("%w: %q: unknown dialect %q", ErrBadAddress, addr, dialect)
	}
	if name == "" || len(name) > 200 || strings.ContainsAny(name, "+#\x00") {
		return "", "", fmt.Errorf("%w: %q: bad name", ErrBadAddress, addr)
	}
	return dialect, name, nil
}
