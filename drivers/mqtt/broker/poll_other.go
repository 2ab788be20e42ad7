//go:build !linux

package broker

import "errors"

// poller exists on Linux only; elsewhere every connection has a reading
// goroutine (Options.GoroutinePerConn).
type poller struct{}

func newPoller(*Broker) (*poller, error) { return nil, nil }

func (*poller) add(*conn) error { return errors.New("broker: no epoll on this system") }

func (*poller) terminate(*conn, bool, error) {}

func (*poller) start() {}

func (*poller) kick(*conn) {}

func (*poller) evict(*conn) {}

func (*poller) stop() {}

func (*poller) live(list []*conn) []*conn { return list }

func (*poller) close() {}

// writeNow writes nothing: there is no socket of the epoll reader's.
func writeNow(*conn, []byte) int { return 0 }
