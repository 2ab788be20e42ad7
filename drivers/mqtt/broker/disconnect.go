package broker

// connected returns the connections of logged-in clients that match.
// A connection's session is set under the locks attach takes, and read
// here under them.
func (b *Broker) connected(match func(Client) bool) []*conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*conn
	for _, s := range b.sessions {
		s.mu.Lock()
		c := s.c
		s.mu.Unlock()
		if c != nil && match(c.client()) {
			out = append(out, c)
		}
	}
	return out
}

// Count returns how many logged-in clients match.
func (b *Broker) Count(match func(Client) bool) int {
	return len(b.connected(match))
}

// DropSessions drops the sessions kept for absent clients that match
// (their subscriptions and queued messages), and returns how many: for a
// user whose access was revoked, so that its kept session neither holds
// messages for it nor keeps its client id from another user.
func (b *Broker) DropSessions(match func(Client) bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for id, s := range b.sessions {
		s.mu.Lock()
		away := s.c == nil
		s.mu.Unlock()
		if away && match(Client{ID: s.id, Username: s.user}) {
			delete(b.sessions, id)
			b.away--
			b.forget(s)
			n++
		}
	}
	return n
}

// Disconnect ends the connection of every logged-in client that matches,
// as a network failure would (its will is published), and returns how
// many it ended. It is for a client whose credentials were revoked: a
// client that connects again is authenticated again.
func (b *Broker) Disconnect(match func(Client) bool) int {
	cs := b.connected(match)
	for _, c := range cs {
		c.shut(ErrDisconnected)
	}
	return len(cs)
}
