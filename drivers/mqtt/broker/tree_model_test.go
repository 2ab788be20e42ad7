package broker

import (
	"math/rand/v2"
	"testing"
)

// The tree with exact filters in maps matches what Matches says, with
// one entry per subscriber at its highest QoS, through random subscribes
// and unsubscribes of overlapping exact and wildcard filters.
func TestTree_MatchesAModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	levels := []string{"a", "b", "$SYS", "", "+", "#"}
	topicLevels := []string{"a", "b", "$SYS", ""}
	var subs [6]session
	filter := func() string {
		n := 1 + r.IntN(3)
		f := ""
		for i := range n {
			l := levels[r.IntN(len(levels))]
			if l == "#" && i != n-1 {
				l = "+"
			}
			if i > 0 {
				f += "/"
			}
			f += l
		}
		return f
	}
	type key struct {
		f string
		s int
	}
	model := map[key]byte{}
	var tr tree
	for step := range 8000 { // seconds under -race; a broken match shows within hundreds
		f := filter()
		if ValidFilter(f) != nil {
			continue
		}
		i := r.IntN(len(subs))
		k := key{f, i}
		if r.IntN(3) == 0 {
			tr.remove(f, sub{s: &subs[i]})
			delete(model, k)
		} else {
			q := byte(r.IntN(2))
			tr.add(f, sub{s: &subs[i], qos: q})
			model[k] = q
		}
		if tr.n != len(model) {
			t.Fatalf("step %d: n %d, model %d", step, tr.n, len(model))
		}
		// Check a few topics.
		for range 4 {
			n := 1 + r.IntN(3)
			topic := ""
			for j := range n {
				if j > 0 {
					topic += "/"
				}
				topic += topicLevels[r.IntN(len(topicLevels))]
			}
			want := map[int]byte{}
			for k, q := range model {
				if Matches(k.f, topic) {
					if old, ok := want[k.s]; !ok || q > old {
						want[k.s] = q
					}
				}
			}
			got := map[int]byte{}
			for _, x := range tr.match(topic, nil) {
				idx := -1
				for j := range subs {
					if &subs[j] == x.s {
						idx = j
					}
				}
				if _, dup := got[idx]; dup {
					t.Fatalf("step %d topic %q: subscriber %d twice", step, topic, idx)
				}
				got[idx] = x.qos
			}
			if len(got) != len(want) {
				t.Fatalf("step %d topic %q: got %v want %v", step, topic, got, want)
			}
			for k, q := range want {
				if got[k] != q {
					t.Fatalf("step %d topic %q: got %v want %v", step, topic, got, want)
				}
			}
		}
	}
}
