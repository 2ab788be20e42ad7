package mqtt

import (
	"strconv"
	"strings"
)

// Routes by device root (table.roots). A Shelly Gen1 device has seven
// topics below shellies/<id>/ for each output; as exact routes they were
// some 1.3 MB of map and topic strings for 1,667 devices. The root's one
// route holds every output of the device (r.d and r.others()), and a
// topic below the root is matched against the kinds each output takes,
// comparing pieces: receive builds no string. The broker subscriptions
// still name each topic (rootFilters), so nothing else below the root
// reaches the driver from an external broker.

// shelly1Prefix is the first level of every Gen1 topic.
const shelly1Prefix = "shellies/"

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

// rooted is the route of a topic that a device root takes (see
// table.roots), with its kind.
func (t *table) rooted(topic string) (route, string, bool) {
	if rest, ok := strings.CutPrefix(topic, shelly1Prefix); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			if r, ok := t.roots[topic[:len(shelly1Prefix)+i+1]]; ok {
				return r.shelly1(rest[i+1:])
			}
		}
	}
	return route{}, "", false
}

// lookup is the route of an exact topic: the exact map's, or a root's.
func (t *table) lookup(topic string) (route, string, bool) {
	if r, ok := t.exact[topic]; ok {
		return r, r.kind, true
	}
	return t.rooted(topic)
}

// claimShelly1 routes a Gen1 output by its root: an output of a device
// already there joins it (see share); a topic of it that an exact route
// has is a conflict, as any topic two routes claim.
func (t *table) claimShelly1(dv *device) error {
	r := route{d: dv}
	for _, k := range shelly1Kinds {
		if !shelly1Takes(k, dv.ch) {
			continue
		}
		topic := dv.base + shelly1Topic(k, dv.ch)
		if old, ok := t.exact[topic]; ok {
			return conflict(old, r, topic)
		}
	}
	old, ok := t.roots[dv.base]
	if !ok {
		t.roots[dv.base] = r
		return nil
	}
	// Outputs of one channel share every topic: the relay's is named.
	r, err := share(old, r, dv.base+shelly1Topic(shellyRelay, dv.ch))
	if err != nil {
		return err
	}
	t.roots[dv.base] = r
	return nil
}

// claimExact routes topic to r.d in the exact map (see claim); a topic a
// root takes is a conflict.
func (t *table) claimExact(topic string, r route) error {
	if old, _, ok := t.rooted(topic); ok {
		return conflict(old, r, topic)
	}
	return claim(t.exact, topic, r)
}

// rootFilters calls yield with each topic the root takes (each output's,
// the shared ones once) that old has no route for, until it returns
// false.
func rootFilters(root string, r route, old *table, yield func(string) bool) bool {
	outs := append([]*device{r.d}, r.others()...)
	for i, o := range outs {
		for _, k := range shelly1Kinds {
			if !shelly1Takes(k, o.ch) || i > 0 && shelly1Shared(k) {
				continue
			}
			topic := root + shelly1Topic(k, o.ch)
			if _, _, had := old.lookup(topic); !had && !yield(topic) {
				return false
			}
		}
	}
	return true
}
