package broker

// filterSet is a session's topic filters and the QoS granted for each. A
// device subscribes one to three filters, and a Go map of even one entry
// takes some 250 bytes (10,000 devices: 2.5 MB), so the first few are
// kept in a slice and a map is made only past smallFilters.
type filterSet struct {
	few  []grant
	many map[string]byte // all of them, once there are more than smallFilters
}

type grant struct {
	filter string
	qos    byte
}

const smallFilters = 8

func (f *filterSet) len() int {
	if f.many != nil {
		return len(f.many)
	}
	return len(f.few)
}

func (f *filterSet) has(filter string) bool {
	if f.many != nil {
		_, ok := f.many[filter]
		return ok
	}
	for _, g := range f.few {
		if g.filter == filter {
			return true
		}
	}
	return false
}

// set grants filter at qos, replacing an earlier grant.
func (f *filterSet) set(filter string, qos byte) {
	if f.many != nil {
		f.many[filter] = qos
		return
	}
	for i := range f.few {
		if f.few[i].filter == filter {
			f.few[i].qos = qos
			return
		}
	}
	if len(f.few) < smallFilters {
		f.few = append(f.few, grant{filter, qos})
		return
	}
	f.many = make(map[string]byte, 2*smallFilters)
	for _, g := range f.few {
		f.many[g.filter] = g.qos
	}
	f.many[filter] = qos
	f.few = nil
}

// del removes filter and reports whether it was there.
func (f *filterSet) del(filter string) bool {
	if f.many != nil {
		_, ok := f.many[filter]
		delete(f.many, filter)
		return ok
	}
	for i, g := range f.few {
		if g.filter == filter {
			last := len(f.few) - 1
			f.few[i] = f.few[last]
			f.few[last] = grant{}
			f.few = f.few[:last]
			return true
		}
	}
	return false
}

// filters lists them, in no order.
func (f *filterSet) filters() []string {
	out := make([]string, 0, f.len())
	if f.many != nil {
		for k := range f.many {
			out = append(out, k)
		}
		return out
	}
	for _, g := range f.few {
		out = append(out, g.filter)
	}
	return out
}
