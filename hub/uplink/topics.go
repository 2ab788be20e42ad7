package uplink

import (
	"fmt"
	"strings"
)

// Version is the topic layout's version: the level after the prefix and
// the "v" of every payload.
const Version = 1

// layout names the topics under a prefix: "<prefix>/v1/...".
type layout struct{ root string }

func newLayout(prefix string) layout { return layout{root: fmt.Sprintf("%s/v%d", prefix, Version)} }

func (l layout) status() string { return l.root + "/status" }
func (l layout) health() string { return l.root + "/health" }
func (l layout) events() string { return l.root + "/events" }

func (l layout) device(id, leaf string) string { return l.root + "/devices/" + id + "/" + leaf }

// commandFilter matches every device's command topic.
func (l layout) commandFilter() string { return l.root + "/devices/+/set" }

// commandDevice returns the device id of a command topic.
func (l layout) commandDevice(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, l.root+"/devices/")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "/set")
	return id, ok && id != "" && !strings.Contains(id, "/")
}

// Leaves of a device's topics.
const (
	leafState  = "state"
	leafAvail  = "availability"
	leafSet    = "set"
	leafResult = "result"
)

// topicSafe reports whether a device id can be a topic level as is.
func topicSafe(id string) bool {
	return id != "" && !strings.ContainsAny(id, "/#+\x00")
}

func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
