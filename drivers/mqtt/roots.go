package mqtt

import (
	"iter"
	"strconv"
	"strings"
)

// Routes that one map entry a device holds (table.roots, and a
// Zigbee2MQTT device's availability). As exact routes, one a topic, a
// Shelly Gen1 device's seven topics below shellies/<id>/ were some 1.3 MB
// of map and topic strings for 1,667 devices, a Gen2 device's three and a
// Zigbee2MQTT device's two another 0.7 MB with 10,000 devices. A root's
// one route holds every output of its device (r.d and r.others()), and a
// topic below it is matched against the kinds each output takes by
// comparing pieces: receive builds no string. The subscriptions still
// name each topic (see rootTopics), so an external broker sends nothing
// else, and claim refuses a topic two routes would take in whichever form
// either holds it: the forms never overlap, so their order in lookup does
// not matter.

// shelly1Prefix is the first level of every Gen1 topic.
const shelly1Prefix = "shellies/"

// z2mAvail ends a Zigbee2MQTT device's availability topic.
const z2mAvail = "/availability"

// shelly1Kinds are the topics below shellies/<id>/ a Gen1 output takes,
// spelled as relay 0's (see shelly1Topic).
var shelly1Kinds = [...]string{shellyRelay, shellyPower, shellyEnergy, shellyOnline, shellyLight, shellyAnnounce, shellyInfo}

// shelly1Takes reports whether Gen1 output ch takes kind: a dimmer has one
// output, light/0.
func shelly1Takes(kind string, ch int) bool { return kind != shellyLight || ch == 0 }

// shelly1Shared reports whether kind's topic is the same for every output
// of a device (and each hears it), rather than one output's own.
func shelly1Shared(kind string) bool {
	return kind != shellyLight && !strings.HasPrefix(kind, shellyRelay)
}

// shelly1Kind is the kind output ch takes at sub, a topic below its root:
// the kind whose shelly1Topic(kind, ch) is sub.
func shelly1Kind(sub string, ch int) (string, bool) {
	for _, k := range shelly1Kinds {
		if shelly1Takes(k, ch) && isShelly1Topic(sub, k, ch) {
			return k, true
		}
	}
	return "", false
}

// isShelly1Topic reports whether sub is shelly1Topic(kind, ch), comparing
// its pieces without building it.
func isShelly1Topic(sub, kind string, ch int) bool {
	tail, relay := strings.CutPrefix(kind, shellyRelay)
	if ch == 0 || !relay {
		return sub == kind
	}
	var buf [20]byte
	n := strconv.AppendInt(buf[:0], int64(ch), 10)
	rest, ok := strings.CutPrefix(sub, "relay/")
	return ok && len(rest) == len(n)+len(tail) && rest[:len(n)] == string(n) && rest[len(n):] == tail
}

// shelly1 is the route of sub, a topic below the Gen1 root whose outputs
// r holds: every output for a topic they share, the one whose channel it
// names otherwise; false for a topic no output takes.
func (r route) shelly1(sub string) (route, string, bool) {
	if k, ok := shelly1Kind(sub, r.d.ch); ok {
		if shelly1Shared(k) {
			return r, k, true
		}
		return route{d: r.d}, k, true
	}
	for _, o := range r.others() {
		if k, ok := shelly1Kind(sub, o.ch); ok { // not shared: r.d takes those
			return route{d: o}, k, true
		}
	}
	return route{}, "", false
}

// Shelly Gen2 topics below the device's prefix; a component's status is
// status/<component>.
const (
	shelly2Online   = "online"
	shelly2Events   = "events/rpc"
	shelly2StatusOf = "status/"
)

// shelly2 is the route of sub, a topic below the Gen2 prefix whose outputs
// (components) r holds: every output for the device's events and
// availability, the component's own for its status.
func (r route) shelly2(sub string) (route, string, bool) {
	switch sub {
	case shelly2Online:
		return r, kindS2Online, true
	case shelly2Events:
		return r, kindS2Event, true
	}
	comp, ok := strings.CutPrefix(sub, shelly2StatusOf)
	if !ok {
		return route{}, "", false
	}
	if r.d.comp == comp {
		return route{d: r.d}, kindS2Status, true
	}
	for _, o := range r.others() {
		if o.comp == comp {
			return route{d: o}, kindS2Status, true
		}
	}
	return route{}, "", false
}

// rooted is the route of a topic that a root takes, or a Zigbee2MQTT
// device's availability, with its kind.
func (t *table) rooted(topic string) (route, string, bool) {
	if rest, ok := strings.CutPrefix(topic, shelly1Prefix); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			if r, ok := t.roots[topic[:len(shelly1Prefix)+i+1]]; ok {
				if r, kind, ok := r.shelly1(rest[i+1:]); ok {
					return r, kind, true
				}
			}
		}
	}
	// A Gen2 prefix has no '/' (and a Gen1 root ends in one).
	if prefix, sub, ok := strings.Cut(topic, "/"); ok && (sub == shelly2Online || sub == shelly2Events || strings.HasPrefix(sub, shelly2StatusOf)) {
		if r, ok := t.roots[prefix]; ok {
			if r, kind, ok := r.shelly2(sub); ok {
				return r, kind, true
			}
		}
	}
	if base, ok := strings.CutSuffix(topic, z2mAvail); ok {
		if r, ok := t.exactRoute(base); ok && r.kind == kindZ2MState {
			return r, kindZ2MAvail, true
		}
	}
	return route{}, "", false
}

// lookup is the route of a topic any device (or the hub) takes as it is:
// every route but a Tasmota base's and the Gen2 replies'.
func (t *table) lookup(topic string) (route, string, bool) {
	if r, kind, ok := t.rooted(topic); ok {
		return r, kind, true
	}
	r, ok := t.exactRoute(topic)
	return r, r.kind, ok
}

// exactRoute is t.exact[topic], without hashing a topic that lacks the
// prefix every exact topic has: most messages (a Tasmota device's, and
// what no route takes) miss the map, and a miss probes longest.
func (t *table) exactRoute(topic string) (route, bool) {
	if !strings.HasPrefix(topic, t.exactPrefix) {
		return route{}, false
	}
	r, ok := t.exact[topic]
	return r, ok
}

// rootTopics is every topic the root holding r takes: each output's own,
// the device's once.
func rootTopics(root string, r route) iter.Seq[string] {
	return func(yield func(string) bool) {
		outs := append([]*device{r.d}, r.others()...)
		for i, o := range outs {
			if o.dialect == DialectShelly2 {
				if i == 0 && !(yield(root+"/"+shelly2Online) && yield(root+"/"+shelly2Events)) {
					return
				}
				if !yield(root + "/" + shelly2StatusOf + o.comp) {
					return
				}
				continue
			}
			for _, k := range shelly1Kinds {
				if shelly1Takes(k, o.ch) && (i == 0 || !shelly1Shared(k)) && !yield(root+shelly1Topic(k, o.ch)) {
					return
				}
			}
		}
	}
}

// claimRoot routes a Shelly output by its device's root (dv.base): an
// output of a device already there joins it (see share). A topic of it
// that another route takes is a conflict.
func (t *table) claimRoot(dv *device) error {
	r := route{d: dv}
	for topic := range rootTopics(dv.base, r) {
		if old, _, ok := t.lookup(topic); ok && !sibling(old.d, dv) {
			return conflict(old, r, topic)
		}
	}
	if old, ok := t.roots[dv.base]; ok {
		var err error
		if r, err = share(old, r, ownTopic(dv)); err != nil {
			return err
		}
	}
	t.roots[dv.base] = r
	return nil
}

// ownTopic is the topic only dv takes of its root's (its relay's, its
// component's status): two outputs of one device that claim it conflict.
func ownTopic(dv *device) string {
	if dv.dialect == DialectShelly2 {
		return dv.base + "/" + shelly2StatusOf + dv.comp
	}
	return dv.base + shelly1Topic(shellyRelay, dv.ch)
}

// claimZ2M routes a Zigbee2MQTT device's state topic (its base) and its
// availability, which the state's route takes too (see rooted).
func (t *table) claimZ2M(dv *device) error {
	// Looked up first: the state's route will take the availability.
	avail := dv.base + z2mAvail
	old, _, taken := t.lookup(avail)
	if err := t.claimExact(dv.base, route{d: dv, kind: kindZ2MState}); err != nil {
		return err
	}
	if taken {
		return conflict(old, route{d: dv, kind: kindZ2MAvail}, avail)
	}
	return nil
}

// claimExact routes topic to r.d in the exact map (see claim); a topic
// a root or an availability takes is a conflict.
func (t *table) claimExact(topic string, r route) error {
	if old, _, ok := t.rooted(topic); ok {
		return conflict(old, r, topic)
	}
	if len(t.exact) == 0 {
		t.exactPrefix = topic
	}
	for !strings.HasPrefix(topic, t.exactPrefix) {
		t.exactPrefix = t.exactPrefix[:len(t.exactPrefix)-1]
	}
	return claim(t.exact, topic, r)
}

// newFilters calls yield with each subscription of t that old lacks,
// until it returns false.
func (t *table) newFilters(old *table, yield func(string) bool) {
	if t.replies != old.replies && !yield(t.replies) {
		return
	}
	lacks := func(topic string) bool {
		_, _, had := old.lookup(topic)
		return !had
	}
	for topic, r := range t.exact {
		if lacks(topic) && !yield(topic) {
			return
		}
		if r.kind == kindZ2MState {
			if avail := topic + z2mAvail; lacks(avail) && !yield(avail) {
				return
			}
		}
	}
	for root, r := range t.roots {
		for topic := range rootTopics(root, r) {
			if lacks(topic) && !yield(topic) {
				return
			}
		}
	}
	for b := range t.bases {
		if _, ok := old.bases[b]; !ok && !yield(b+"+") {
			return
		}
	}
}
