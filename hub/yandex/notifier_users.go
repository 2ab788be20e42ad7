package yandex

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"

	"hubd/hub"
)

// recipients returns who is notified now.
func (n *Notifier) recipients() []Recipient {
	if n.opts.Recipients == nil {
		return []Recipient{{UserID: n.opts.UserID, Scope: hub.Scope{Staff: true}}}
	}
	return n.opts.Recipients()
}

// inScope returns the ids sc covers, in their order.
func (n *Notifier) inScope(sc hub.Scope, ids []string) []string {
	if sc.Staff {
		return ids
	}
	var out []string
	for _, id := range ids {
		if n.hub.InScope(sc, id) {
			out = append(out, id)
		}
	}
	return out
}

// Discover owes users a discovery callback, sent with the next push and
// retried like state; a check-out uses it so the platform drops the home's
// devices.
func (n *Notifier) Discover(users ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, u := range users {
		n.discover[u] = true
	}
}

// setSignature sums what a platform's discovery shows of sc's devices:
// ids, names, kinds, capabilities, rooms and where the rooms are.
func (n *Notifier) setSignature(sc hub.Scope, paths map[string]string) string {
	h := sha256.New()
	for _, d := range n.hub.DevicesIn(sc) {
		fmt.Fprintf(h, "%q %q %s %d %d %d %q\n", d.ID, d.Name, d.Kind, d.Fields, d.TempMinK, d.TempMaxK, paths[d.Room])
	}
	return string(h.Sum(nil))
}

// roomPaths names each site node by the names from its building down.
func roomPaths(site *hub.Site) map[string]string {
	out := map[string]string{}
	if site == nil {
		return out
	}
	site.Walk(func(nd, parent *hub.Node, _ int) bool {
		p := nd.Name
		if parent != nil {
			p = out[parent.ID] + "\x00" + nd.Name
		}
		out[nd.ID] = p
		return true
	})
	return out
}

// baseline records the device set of recipients seen for the first time:
// they linked with the set as it is, so they are owed nothing for it.
func (n *Notifier) baseline(recips []Recipient) {
	var paths map[string]string
	for _, r := range recips {
		n.mu.Lock()
		_, known := n.sets[r.UserID]
		n.mu.Unlock()
		if known {
			continue
		}
		if paths == nil {
			paths = roomPaths(n.hub.Site())
		}
		sig := n.setSignature(r.Scope, paths)
		n.mu.Lock()
		n.sets[r.UserID] = sig
		n.mu.Unlock()
	}
}

// checkSets owes a discovery callback to each recipient whose device set
// differs from the one last seen, and forgets users that are gone.
func (n *Notifier) checkSets(recips []Recipient) {
	paths := roomPaths(n.hub.Site())
	now := map[string]string{}
	for _, r := range recips {
		now[r.UserID] = n.setSignature(r.Scope, paths)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for u, sig := range now {
		if old, ok := n.sets[u]; ok && old != sig {
			n.discover[u] = true
		}
	}
	n.sets = now
}

// sendDiscoveries sends the discovery callbacks owed. Those refused for
// good are dropped; on a passing failure, returned, the rest wait for the
// retry.
func (n *Notifier) sendDiscoveries(ctx context.Context) error {
	n.mu.Lock()
	users := make([]string, 0, len(n.discover))
	for u := range n.discover {
		users = append(users, u)
	}
	n.mu.Unlock()
	slices.Sort(users)
	var first error
	for _, u := range users {
		err := n.sendDiscovery(ctx, u)
		if err != nil && first == nil {
			first = err
		}
		if err != nil && retryable(err) {
			return err
		}
		n.mu.Lock()
		delete(n.discover, u)
		n.mu.Unlock()
	}
	return first
}
