package mqtt

import (
	"fmt"
	"strings"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// onMessage is paho's handler for every message.
func (d *Driver) onMessage(_ paho.Client, m paho.Message) {
	d.receive(m.Topic(), m.Payload(), m.Retained())
}

// receive takes every message the broker delivers (from paho's handler,
// or on the embedded broker's goroutine that read it). It must never
// block: it routes by topic and queues. retained is true for a retained
// message the broker replayed on subscribing.
func (d *Driver) receive(topic string, p []byte, retained bool) {
	t := d.tab.Load()
	r, kind, ok := t.lookup(topic)
	if !ok {
		var from string
		if from, ok = d.replyFrom(topic); ok {
			r, kind = route{d: d.rpcDev}, from
		}
	}
	if !ok {
		i := strings.LastIndexByte(topic, '/')
		if i < 0 {
			return
		}
		if r, ok = t.bases[topic[:i+1]]; !ok {
			return // not ours (a wildcard someone else's, or a stale route)
		}
		kind = topic[i+1:]
	}
	d.msgsIn.Add(1) // only what a device's route takes (see inlineConn)
	limit := d.opts.MaxPayload
	if r.d == d.bridgeDev {
		limit = max(limit, maxBridgePayload)
	}
	if len(p) > limit {
		d.badMessage(r.d, topic, fmt.Errorf("%w: %d bytes (limit %d)", ErrOversize, len(p), limit))
		return
	}
	if r.d == d.rpcDev {
		// A reply goes into its device's own queue, behind what the device
		// said before it: a status the broker replayed on subscribing,
		// applied after the reply to a later GetStatus, would put the
		// device back as it was. A reply that matches no call stays on
		// the replies' queue (bad, or late for a removed device).
		if dv := d.replyOwner(t, kind, p); dv != nil {
			r, kind = route{d: dv}, kindReply
		}
	}
	it := item{kind: kind, payload: p, retained: retained}
	d.enqueue(r.d, it)
	for _, o := range r.others() {
		d.enqueue(o, it) // the payload is only read: shared
	}
}

// enqueue adds it to dv's ring, dropping the oldest message when full, and
// schedules dv for a worker. A removed device takes nothing but the
// replies to its calls, which go to the replies' queue.
func (d *Driver) enqueue(dv *device, it item) {
	dv.mu.Lock()
	if dv.gone.Load() {
		dv.mu.Unlock()
		if it.kind == kindReply {
			it.kind = dv.name // the replies' queue knows the sender by its kind
			d.enqueue(d.rpcDev, it)
		}
		return
	}
	if dv.n == len(dv.q) && len(dv.q) < dv.qmax {
		dv.grow()
	}
	if dv.n == len(dv.q) {
		dv.dropOldest()
		d.dropped.Add(1)
	}
	dv.q[(dv.head+dv.n)%len(dv.q)] = it
	dv.n++
	sched := !dv.scheduled
	dv.scheduled = true
	dv.mu.Unlock()
	if sched {
		d.schedule(dv)
	}
}

// dropOldest drops the oldest message of dv's full ring that is not an
// RPC reply (the oldest reply when all are): a device that talks faster
// than its messages are applied loses some of what it said, never the
// answer a command waits for. dv.mu is held.
func (dv *device) dropOldest() {
	at := 0 // how far from head the message to drop is
	for at < dv.n && dv.q[(dv.head+at)%len(dv.q)].kind == kindReply {
		at++
	}
	if at == dv.n {
		at = 0
	}
	// The messages before it move up a place, into its slot.
	for i := at; i > 0; i-- {
		dv.q[(dv.head+i)%len(dv.q)] = dv.q[(dv.head+i-1)%len(dv.q)]
	}
	dv.q[dv.head] = item{}
	dv.head = (dv.head + 1) % len(dv.q)
	dv.n--
}

// grow doubles dv's full ring, up to qmax. dv.mu is held.
func (dv *device) grow() {
	q := make([]item, min(max(2*len(dv.q), 1), dv.qmax))
	for i := range dv.n {
		q[i] = dv.q[(dv.head+i)%len(dv.q)]
	}
	dv.q, dv.head = q, 0
}

// release gives back an empty ring grown past one slot: a burst (a
// device's retained messages and first reports at connect) grows it, and
// kept for each of 10,000 devices those rings are some 2 MB that sit
// empty. The next message grows a ring again. dv.mu is held.
func (dv *device) release() {
	if dv.n == 0 && len(dv.q) > 1 {
		dv.q, dv.head = nil, 0
	}
}

// schedule queues dv for a worker; a device is queued at most once.
func (d *Driver) schedule(dv *device) {
	d.rqMu.Lock()
	d.rq = append(d.rq, dv)
	d.rqMu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// next takes the first scheduled device, or nil.
func (d *Driver) next() *device {
	d.rqMu.Lock()
	defer d.rqMu.Unlock()
	if len(d.rq) == 0 {
		return nil
	}
	dv := d.rq[0]
	d.rq[0] = nil
	d.rq = d.rq[1:]
	if len(d.rq) > 0 {
		select {
		case d.wake <- struct{}{}: // another worker may help
		default:
		}
	}
	return dv
}

func (d *Driver) work(stop <-chan struct{}) {
	for {
		if dv := d.next(); dv != nil {
			d.drain(dv)
			continue
		}
		select {
		case <-stop:
			return
		case <-d.wake:
		}
	}
}

// drain handles dv's queued messages in order. Only one worker drains a
// device at a time (scheduled stays true until the queue is empty).
func (d *Driver) drain(dv *device) {
	for {
		dv.mu.Lock()
		if dv.n == 0 || dv.gone.Load() {
			dv.scheduled = false
			dv.release()
			dv.mu.Unlock()
			return
		}
		it := dv.q[dv.head]
		dv.q[dv.head] = item{}
		dv.head = (dv.head + 1) % len(dv.q)
		dv.n--
		dv.mu.Unlock()
		d.handle(dv, it)
	}
}
