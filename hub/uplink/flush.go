package uplink

import (
	"context"
)

// sending is a published event waiting for the broker's acknowledgement.
type sending struct {
	seq  uint64
	done <-chan struct{}
	err  func() error
}

// skipped stands for the acknowledgement of an event that is not sent.
var skipped = func() <-chan struct{} { c := make(chan struct{}); close(c); return c }()

func noError() error { return nil }

// flush publishes the queued events in order while connected, each time
// events are queued or the client connects.
func (u *Uplink) flush(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
		}
		if err := u.stream(ctx); err != nil && ctx.Err() == nil {
			u.setErrorOnly(err)
			u.log.Warn("uplink: event flush stopped", "err", err)
		}
	}
}

// stream sends queued events until none is left, the connection is lost
// or ctx ends, keeping up to Window of them waiting for their
// acknowledgement (a window sent whole and then awaited stalls on a broker
// that delays its acknowledgements, as Mosquitto does by default). Events
// are removed from the queue once acknowledged, in order. What is in
// flight when the connection is lost stays queued and is sent again after
// the reconnect (or by the next process), so an event may arrive twice
// with the same seq, never not at all.
func (u *Uplink) stream(ctx context.Context) error {
	var (
		flight []sending
		last   uint64 // the last seq published
		acked  uint64 // the last seq acknowledged
		n      int    // acknowledged and not yet removed
	)
	remove := func() error {
		if n == 0 {
			return nil
		}
		u.mu.Lock()
		u.status.EventsSent += uint64(n)
		u.mu.Unlock()
		n = 0
		return u.opts.Queue.Remove(acked)
	}
	defer remove()
	for u.connected.Load() {
		if room := u.opts.Window - len(flight); len(flight) == 0 || room >= u.opts.Window/2 {
			items, err := u.opts.Queue.Peek(last, room)
			if err != nil {
				return err
			}
			for _, it := range items {
				last = it.Seq
				flight = append(flight, u.send(it))
			}
		}
		if len(flight) == 0 {
			return remove()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-flight[0].done:
		}
		if err := flight[0].err(); err != nil {
			return err
		}
		acked, flight, n = flight[0].seq, flight[1:], n+1
		if n >= u.opts.Window {
			if err := remove(); err != nil {
				return err
			}
		}
	}
	return nil
}

// send publishes one queued event.
func (u *Uplink) send(it QueueItem) sending {
	payload, err := eventPayload(u.opts.Gateway, it)
	if err != nil {
		u.log.Error("uplink: queued event is not JSON, skipped", "seq", it.Seq, "err", err)
		return sending{seq: it.Seq, done: skipped, err: noError}
	}
	t := u.client.Publish(u.topics.events(), u.opts.QoS, false, payload)
	return sending{seq: it.Seq, done: t.Done(), err: t.Error}
}
