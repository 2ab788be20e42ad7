package broker

// smallMap is a map from strings that keeps its first smallMapInline
// entries in a slice searched in order and moves to a Go map for good
// past that. The broker holds many small ones: most levels of a gateway's
// subscription tree have a single child (below "stat/<device>" there is
// one "RESULT"), and a device's session holds one to three filters, and a
// Go map of even one entry is a few hundred bytes, about ten times a
// short slice; with 10,000 devices the maps were the largest single cost
// of the embedded broker.
type smallMap[V any] struct {
	few  []smallEntry[V]
	many map[string]V // every entry, once there are more than smallMapInline
}

type smallEntry[V any] struct {
	key string
	v   V
}

// smallMapInline is the most entries kept in the slice.
const smallMapInline = 8

// kids are a tree node's children, by topic level.
type kids = smallMap[*node]

// filterSet is a session's topic filters and the QoS granted for each.
type filterSet = smallMap[byte]

// get is the value at key, or V's zero value.
func (m *smallMap[V]) get(key string) V {
	v, _ := m.lookup(key)
	return v
}

func (m *smallMap[V]) has(key string) bool {
	_, ok := m.lookup(key)
	return ok
}

func (m *smallMap[V]) lookup(key string) (V, bool) {
	if m.many != nil {
		v, ok := m.many[key]
		return v, ok
	}
	for i := range m.few {
		if m.few[i].key == key {
			return m.few[i].v, true
		}
	}
	var zero V
	return zero, false
}

// put sets key to v, replacing an earlier value.
func (m *smallMap[V]) put(key string, v V) {
	if m.many != nil {
		m.many[key] = v
		return
	}
	for i := range m.few {
		if m.few[i].key == key {
			m.few[i].v = v
			return
		}
	}
	if len(m.few) < smallMapInline {
		m.few = append(m.few, smallEntry[V]{key, v})
		return
	}
	m.many = make(map[string]V, 2*smallMapInline)
	for _, e := range m.few {
		m.many[e.key] = e.v
	}
	m.many[key] = v
	m.few = nil
}

// del removes key and reports whether it was there.
func (m *smallMap[V]) del(key string) bool {
	if m.many != nil {
		_, ok := m.many[key]
		delete(m.many, key)
		return ok
	}
	for i := range m.few {
		if m.few[i].key == key {
			last := len(m.few) - 1
			m.few[i] = m.few[last]
			m.few[last] = smallEntry[V]{}
			m.few = m.few[:last]
			if last == 0 {
				m.few = nil
			}
			return true
		}
	}
	return false
}

// len is how many entries there are.
func (m *smallMap[V]) len() int {
	if m.many != nil {
		return len(m.many)
	}
	return len(m.few)
}

// keys lists them, in no order.
func (m *smallMap[V]) keys() []string {
	out := make([]string, 0, m.len())
	if m.many != nil {
		for k := range m.many {
			out = append(out, k)
		}
		return out
	}
	for _, e := range m.few {
		out = append(out, e.key)
	}
	return out
}
