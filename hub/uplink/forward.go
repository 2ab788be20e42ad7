package uplink

import (
	"context"
	"encoding/json"
	"time"

	"hubd/hub"
)

// maxBatch bounds the events appended to the queue in one transaction,
// and batchLinger how long the first waits for others: each append is a
// commit (two fsyncs), and the hub hands changes over one at a time.
const (
	maxBatch    = 256
	batchLinger = 2 * time.Millisecond
)

// collect follows the hub: events go into the durable queue (in batches,
// one commit each), state and availability changes are published at once
// when connected (the next connect republishes them anyway).
func (u *Uplink) collect(ctx context.Context, sub *hub.Subscription) {
	var batch [][]byte
	linger := time.NewTimer(batchLinger)
	defer linger.Stop()
	for {
		select {
		case <-ctx.Done():
			u.drain(sub)
			return
		case c, ok := <-sub.C:
			if !ok {
				return
			}
			batch = u.handle(c, batch)
		}
		linger.Reset(batchLinger)
	gather:
		for len(batch) < maxBatch {
			select {
			case c, ok := <-sub.C:
				if !ok {
					break gather
				}
				batch = u.handle(c, batch)
			case <-linger.C:
				break gather
			}
		}
		u.enqueue(batch)
		batch = batch[:0]
	}
}

// drainIdle and drainMax bound the last read of the subscription at
// shutdown: the hub hands its queued changes over one at a time.
const (
	drainIdle = 20 * time.Millisecond
	drainMax  = time.Second
)

// drain queues the events the hub logged before the stop that the
// subscription still holds, so that a graceful restart loses none.
func (u *Uplink) drain(sub *hub.Subscription) {
	var batch [][]byte
	deadline := time.After(drainMax)
	for {
		select {
		case c, ok := <-sub.C:
			if !ok {
				u.enqueue(batch)
				return
			}
			if c.Kind == hub.ChangeEvent {
				batch = append(batch, queuedEvent(c.Event))
			}
			continue
		case <-time.After(drainIdle):
		case <-deadline:
		}
		u.enqueue(batch)
		return
	}
}

// handle publishes what c changed and adds its event, if any, to batch.
func (u *Uplink) handle(c hub.Change, batch [][]byte) [][]byte {
	switch c.Kind {
	case hub.ChangeEvent:
		return append(batch, queuedEvent(c.Event))
	case hub.ChangeState, hub.ChangeOnline, hub.ChangeInfo:
		u.publishDevice(c.Device)
	case hub.ChangeDevices:
		u.publishAll()
	}
	return batch
}

func (u *Uplink) enqueue(batch [][]byte) {
	if len(batch) == 0 {
		return
	}
	dropped, err := u.opts.Queue.Append(batch)
	if err != nil {
		u.setErrorOnly(err)
		u.log.Error("uplink: events not queued", "events", len(batch), "err", err)
		return
	}
	if dropped > 0 {
		u.log.Warn("uplink: event queue is full, oldest events dropped", "dropped", dropped)
	}
	signal(u.wake)
}

func (u *Uplink) setErrorOnly(err error) {
	u.mu.Lock()
	u.status.LastError = err.Error()
	u.mu.Unlock()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("uplink: " + err.Error()) // only our own types are encoded
	}
	return b
}
