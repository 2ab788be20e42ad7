package mqtt

import (
	"fmt"
	"strconv"
	"strings"
)

// Dialect names, as used in device addresses.
const (
	DialectTasmota = "tasmota"
	DialectZ2M     = "z2m"
	DialectShelly1 = "shelly"
	DialectShelly2 = "shelly2"
)

// Channel limits of the dialects whose devices have several outputs.
const (
	// MaxTasmotaChannel is the highest Tasmota relay, POWER8.
	MaxTasmotaChannel = 8
	// MaxShelly1Relay is the highest Shelly Gen1 relay index (relay/3 of
	// a Shelly 4Pro).
	MaxShelly1Relay = 3
	// MaxShelly2ComponentID bounds the id of a Gen2 component (switch:N,
	// light:N): the largest Pro devices have a handful.
	MaxShelly2ComponentID = 15
)

// shelly2Switch0 is the component a Gen2 address without one names.
const shelly2Switch0 = "switch:0"

// Address is a parsed device address. One device (one Tasmota topic, one
// Shelly id or prefix) can have several outputs, each a hub device with
// its own address:
//
//	tasmota:<topic>:<n>            POWER<n>, n 2..8 (the topic alone is POWER, i.e. POWER1)
//	shelly:<id>:<n>                relay/<n>, n 1..3 (the id alone is relay/0)
//	shelly2:<prefix>:<type>:<n>    component <type>:<n>: switch, light, cct, rgb or rgbw
//	                               (the prefix alone is switch:0)
type Address struct {
	Dialect string
	// Topic is the device: the Tasmota topic, the Zigbee2MQTT friendly
	// name, the Shelly Gen1 id or the Gen2 topic prefix.
	Topic string
	// Channel is the Tasmota relay (POWER<Channel>; 0: the topic's
	// first, addressed as POWER) or the Shelly Gen1 relay index.
	Channel int
	// Component is the Shelly Gen2 component, "switch:0" by default.
	Component string
}

// String is the address as devices and the config's adoption spell it:
// the first output has no suffix.
func (a Address) String() string {
	s := a.Dialect + ":" + a.Topic
	switch {
	case a.Dialect == DialectShelly2 && a.Component != "" && a.Component != shelly2Switch0:
		s += ":" + a.Component
	case a.Channel > 0:
		s += ":" + strconv.Itoa(a.Channel)
	}
	return s
}

// shelly2Namespaces are the Gen2 component types the driver drives, with
// their RPC namespace.
var shelly2Namespaces = map[string]string{
	"switch": "Switch", "light": "Light", "cct": "CCT", "rgb": "RGB", "rgbw": "RGBW",
}

// ParseAddress splits a device address "dialect:name" and checks that the
// name can be used in MQTT topics; name keeps a channel or component
// suffix (see SplitAddress).
func ParseAddress(addr string) (dialect, name string, err error) {
	a, err := SplitAddress(addr)
	if err != nil {
		return "", "", err
	}
	_, name, _ = strings.Cut(addr, ":")
	return a.Dialect, name, nil
}

// SplitAddress parses a device address into its dialect, device topic and
// output (see Address). The first output is spelled without a suffix
// ("tasmota:t", not "tasmota:t:1"), so that each output has one address.
func SplitAddress(addr string) (Address, error) {
	dialect, name, ok := strings.Cut(addr, ":")
	if !ok {
		return Address{}, fmt.Errorf("%w: %q: want dialect:name", ErrBadAddress, addr)
	}
	a := Address{Dialect: dialect, Topic: name}
	var err error
	switch dialect {
	case DialectTasmota:
		err = a.channelSuffix(2, MaxTasmotaChannel)
	case DialectShelly1:
		err = a.channelSuffix(1, MaxShelly1Relay)
	case DialectShelly2:
		err = a.componentSuffix()
	case DialectZ2M:
		// Friendly names may contain '/', but not at the ends or doubled.
		if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
			return Address{}, fmt.Errorf("%w: %q: bad friendly name", ErrBadAddress, addr)
		}
	default:
		return Address{}, fmt.Errorf("%w: %q: unknown dialect %q", ErrBadAddress, addr, dialect)
	}
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q: %v", ErrBadAddress, addr, err)
	}
	if dialect != DialectZ2M && strings.Contains(a.Topic, "/") {
		return Address{}, fmt.Errorf("%w: %q: name may not contain '/'", ErrBadAddress, addr)
	}
	if a.Topic == "" || len(name) > 200 || strings.ContainsAny(a.Topic, "+#\x00") {
		return Address{}, fmt.Errorf("%w: %q: bad name", ErrBadAddress, addr)
	}
	if strings.Contains(a.Topic, "%") {
		// A device account's rules name its topic, and an ACL rule expands
		// %c and %u to whoever logs in: "b%c" would let the client "ob"
		// write device "bob"'s topics (here, and in Mosquitto's ACL).
		return Address{}, fmt.Errorf("%w: %q: name may not contain '%%'", ErrBadAddress, addr)
	}
	return a, nil
}

// channelSuffix takes a trailing ":<n>" off a.Topic, n in lo..hi. A
// suffix that is not a number is part of the topic.
func (a *Address) channelSuffix(lo, hi int) error {
	i := strings.LastIndexByte(a.Topic, ':')
	if i < 0 {
		return nil
	}
	n, err := strconv.Atoi(a.Topic[i+1:])
	if err != nil || strconv.Itoa(n) != a.Topic[i+1:] {
		return nil // "05", "+5": part of the topic, not a channel
	}
	if n < lo || n > hi {
		if n == lo-1 {
			return fmt.Errorf("channel %d is the device itself: leave out \":%d\"", n, n)
		}
		return fmt.Errorf("channel %d is outside %d..%d", n, lo, hi)
	}
	a.Topic, a.Channel = a.Topic[:i], n
	return nil
}

// componentSuffix takes a trailing ":<type>:<n>" off a Gen2 prefix.
func (a *Address) componentSuffix() error {
	a.Component = shelly2Switch0
	prefix, comp, ok := strings.Cut(a.Topic, ":")
	if !ok {
		return nil
	}
	typ, id, _ := strings.Cut(comp, ":")
	n, err := strconv.Atoi(id)
	if _, known := shelly2Namespaces[typ]; !known || err != nil || n < 0 || n > MaxShelly2ComponentID || strconv.Itoa(n) != id {
		return fmt.Errorf("component %q is not switch, light, cct, rgb or rgbw :0..%d", comp, MaxShelly2ComponentID)
	}
	if comp == shelly2Switch0 {
		return fmt.Errorf("switch:0 is the device itself: leave it out")
	}
	a.Topic, a.Component = prefix, comp
	return nil
}

// shelly2Type is the type of a Gen2 component ("cct" of "cct:0").
func shelly2Type(comp string) string {
	typ, _, _ := strings.Cut(comp, ":")
	return typ
}

// shelly2ID is the id of a Gen2 component (1 of "switch:1").
func shelly2ID(comp string) int {
	_, id, _ := strings.Cut(comp, ":")
	n, _ := strconv.Atoi(id)
	return n
}
