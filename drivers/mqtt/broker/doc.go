// Package broker is the MQTT broker hubd embeds when no external broker is
// configured: MQTT 3.1.1 (and 3.1) for the few hundred to few thousand
// devices of one building, on a gateway with little memory.
//
// It keeps what devices rely on: QoS 0 and 1 both ways (a QoS 2 publish
// is taken with its full handshake and passed on at QoS 1), retained
// messages, wills, keep-alive, persistent sessions that keep their
// subscriptions and QoS 1 messages while a client is away (for
// Options.SessionExpiry), session takeover, '+' and '#' filters with the
// '$' rule, user/password authentication and a publish check per topic.
// It leaves out MQTT 5, QoS 2 delivery to subscribers, TLS (put the broker
// on loopback or a trusted segment, or use an external broker) and
// bridging.
//
// Memory is the design constraint. On Linux one goroutine reads every
// connection: an epoll set says which sockets have bytes, they are read
// into one shared buffer, and only the bytes of a packet not fully arrived
// are kept per client; a quiet client costs a few hundred bytes of heap
// and no goroutine. (Elsewhere, or with Options.GoroutinePerConn, each
// connection has a reading goroutine: about 4 KiB of stack and a 512-byte
// buffer.) What is written to a client waits in a slice that exists only
// while there is a backlog, and the goroutine that writes it exists only
// as long. Each client's backlog (queued plus unacknowledged messages) is
// bounded by Options.QueueLen; beyond it messages to that client are
// dropped and counted, and a client that takes nothing for
// Options.WriteTimeout (or keeps sending while it reads nothing) is
// disconnected, so one stuck client never holds up the others. The
// retained messages a SUBSCRIBE asks for are looked up by that client's
// writer, not by the reader. What one client can make the broker hold
// is bounded: a packet's memory grows as its bytes arrive (up to
// MaxPacket), filters per client (MaxSubscriptions, 64 levels each),
// retained messages (MaxRetained, MaxRetainedBytes) and sessions kept
// for clients that are away (MaxAwaySessions). In-process subscribers
// (Local) are called on the goroutine that publishes: mostly the
// reading goroutine (the hub's MQTT driver reads its devices without a
// loopback connection), and must not block.
package broker
