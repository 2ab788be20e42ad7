package hub

import "net/netip"

// AddrKey is the key a per-client limit counts a client address under: an
// IPv4 address as it is, an IPv6 one by its /64 (any host there can pick a
// fresh address within it; IPv4-mapped IPv6 counts as IPv4). Anything else
// (a Unix socket's empty address) is used verbatim.
func AddrKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}
