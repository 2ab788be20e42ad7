package broker

// kids are a node's children, by topic level. Most levels of a gateway's
// subscription tree have a single child (below "stat/<device>" there is
// one "RESULT"), and there a map costs about ten times what a short slice
// does: a map with one entry is a few hundred bytes, which made the tree
// of 10,000 devices' filters the largest single cost of the embedded
// broker. Up to kidsInline children are kept in a slice searched in
// order; a level with more (the first level, "stat", "tele", ...) moves to
// a map for good.
type kids struct {
	few  []kid
	many map[string]*node
}

type kid struct {
	level string
	n     *node
}

// kidsInline is the most children kept in the slice.
const kidsInline = 8

// get is the child at level, or nil.
func (k *kids) get(level string) *node {
	if k.many != nil {
		return k.many[level]
	}
	for i := range k.few {
		if k.few[i].level == level {
			return k.few[i].n
		}
	}
	return nil
}

// put adds c at level, which has no child yet.
func (k *kids) put(level string, c *node) {
	if k.many != nil {
		k.many[level] = c
		return
	}
	if len(k.few) < kidsInline {
		k.few = append(k.few, kid{level, c})
		return
	}
	k.many = make(map[string]*node, 2*kidsInline)
	for _, x := range k.few {
		k.many[x.level] = x.n
	}
	k.many[level] = c
	k.few = nil
}

// del removes the child at level, if any.
func (k *kids) del(level string) {
	if k.many != nil {
		delete(k.many, level)
		return
	}
	for i := range k.few {
		if k.few[i].level == level {
			last := len(k.few) - 1
			k.few[i] = k.few[last]
			k.few[last] = kid{}
			k.few = k.few[:last]
			if last == 0 {
				k.few = nil
			}
			return
		}
	}
}

// len is how many children there are.
func (k *kids) len() int {
	if k.many != nil {
		return len(k.many)
	}
	return len(k.few)
}
