package broker

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// backlogged reports, after a packet of c's client, whether QueueLen
// packets wait to be written to it: its reader then takes no more from
// it until c's writer takes them (resume). A client that sends without
// pause gets the flow control of TCP, not a disconnection, as long as it
// reads; one that does not read is ended by its writer (WriteTimeout).
func (c *conn) backlogged() bool {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	// Without a writer (it failed: c is ending) nothing would resume c.
	if s.c != c || !c.writing || len(s.queue) < s.b.opts.QueueLen {
		return false
	}
	c.paused = true
	if c.poll == nil {
		c.resumed = make(chan struct{})
	}
	return true
}

// resume lets c's reader go on, if it waits for the backlog to be
// taken. s.mu is held.
func (c *conn) resume() {
	if !c.paused {
		return
	}
	c.paused = false
	if c.poll != nil {
		c.poll.kick(c)
		return
	}
	close(c.resumed)
}

// flush writes the session's queue while c is its connection and the
// queue is not empty, then ends.
func (c *conn) flush() {
	s := c.s
	w := writers.Get().(*bufio.Writer)
	w.Reset(progress{c})
	defer func() {
		w.Reset(nil)
		writers.Put(w)
	}()
	gone := 0 // bytes of QoS 0 messages written
	for {
		s.mu.Lock()
		s.written(gone)
		gone = 0
		c.resume()
		if s.c != c || len(s.queue) == 0 {
			c.writing = false
			s.queue = shrink(s.queue)
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue = nil
		for i := range batch {
			o := &batch[i]
			switch {
			case o.kind != typePublish:
			case o.qos == 1:
				o.pid = s.sent(unacked{pid: o.pid, msg: o.msg, retain: o.retain})
			default:
				gone += size(o.msg) // counted until written
			}
		}
		s.mu.Unlock()
		var err error
		sent := 0
		for i := range batch {
			o := &batch[i]
			if o.kind == typeSubscribe {
				var n int
				n, err = c.replay(w, o.raw)
				sent += n
				if err != nil {
					break
				}
				continue
			}
			if _, err = w.Write(appendOut(w.AvailableBuffer(), o)); err != nil {
				break
			}
			if o.kind == typePublish {
				sent++
			}
		}
		if err == nil {
			err = w.Flush()
		}
		c.b.sent.Add(uint64(sent))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
				c.b.slow.Add(1)
				err = fmt.Errorf("%w: it took no byte for %v: %w", ErrSlowClient, c.b.opts.WriteTimeout, err)
			}
			c.shut(err)
			s.mu.Lock()
			s.written(gone)
			c.writing = false
			c.resume()
			s.mu.Unlock()
			return
		}
	}
}

// writeChunk is the most written to a socket in one call: a client is
// given WriteTimeout for each.
const writeChunk = 32 << 10

// progress is a connection's socket as its writer sees it: each chunk
// has WriteTimeout to be taken, so a client is judged by whether it
// reads, however much waits for it. What the socket takes at once
// (writeNow) needs no deadline: most writes are a few small packets,
// and a deadline is a runtime timer made for the socket and kept (some
// 20 bytes a client) and set and stopped each time.
type progress struct{ c *conn }

func (p progress) Write(b []byte) (int, error) {
	n := writeNow(p.c, b)
	for n < len(b) {
		_ = p.c.nc.SetWriteDeadline(time.Now().Add(p.c.b.opts.WriteTimeout))
		m, err := p.c.nc.Write(b[n:min(len(b), n+writeChunk)])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// shrink keeps an empty queue's array unless it is large.
func shrink(q []out) []out {
	if cap(q) > 64 {
		return nil
	}
	return q
}

// appendOut encodes o.
func appendOut(b []byte, o *out) []byte {
	switch o.kind {
	case typePublish:
		return appendPublish(b, o.msg, o.qos, o.retain, o.dup, o.pid)
	case typePuback, typePubrec, typePubcomp, typeUnsuback:
		return append(b, o.kind<<4, 2, byte(o.pid>>8), byte(o.pid))
	case typePingresp:
		return append(b, typePingresp<<4, 0)
	}
	return append(b, o.raw...)
}

// replay writes the retained messages under the filters a SUBSCRIBE was
// granted (list, see subscribe), flagged retained. It runs on c's writer
// when the queue reaches it, not on the reader: looking under a wildcard
// means looking at every retained topic, and a client sending many
// filters would stall every other one. A QoS 1 message awaits its PUBACK
// like any other, within QueueLen; at QoS 0 the client takes them as
// fast as it can.
func (c *conn) replay(w *bufio.Writer, list []byte) (sent int, err error) {
	b, s := c.b, c.s
	f := fields{b: list}
	for len(f.b) > 0 && f.err == nil {
		filter := string(f.bytes("filter"))
		granted := f.byte("QoS")
		for _, m := range b.retainedUnder(filter) {
			q := min(m.QoS, granted)
			var pid uint16
			if q == 1 {
				s.mu.Lock()
				if s.c != c {
					s.mu.Unlock()
					return sent, nil
				}
				if len(s.queue)+s.flying() >= b.opts.QueueLen {
					s.mu.Unlock()
					b.dropped.Add(1)
					continue
				}
				if !s.room(size(m)) {
					s.mu.Unlock()
					continue
				}
				pid = s.sent(unacked{msg: m, retain: true})
				s.mu.Unlock()
			}
			if _, err := w.Write(appendPublish(w.AvailableBuffer(), m, q, true, false, pid)); err != nil {
				return sent, err
			}
			sent++
		}
	}
	return sent, nil
}
