// Package broker is the MQTT broker hubd embeds when no external broker is
// configured: MQTT 3.1.1 (and 3.1) for the few hundred to few thousand
// devices of one building, on a gateway with little memory.
//
// It keeps what devices rely on: QoS 0 and 1 both ways (a QoS 2 publish
// is taken with its full handshake and passed on at QoS 1; the ids it
// holds until PUBREL are session state, so a message sent again after a
// reconnect is passed on once), retained messages, wills, keep-alive,
// persistent sessions that keep their subscriptions, their QoS 1
// messages and their QoS 2 ids while a client is away (for
// Options.SessionExpiry), session takeover, '+' and '#' filters with the
// '$' rule, user/password authentication, and access checks per topic to
// publish (CanPublish) and per filter to subscribe (CanSubscribe: a
// refused filter gets SUBACK 0x80). Clients connect without TLS
// (Options.Listen), with TLS (Options.TLSListen, its certificate read
// again by ReloadTLS), or both. It leaves out MQTT 5, QoS 2 delivery to
// subscribers, client certificates and bridging.
//
// Memory is the design constraint. On Linux one goroutine reads every
// plain connection: an epoll set says which sockets have bytes, they are
// read into one shared buffer, and only the bytes of a packet not fully
// arrived are kept per client, and each socket is held as a file of its
// own descriptor, without the net package's connection and addresses; a
// quiet client costs about a kilobyte of heap (its connection, session,
// socket, will and filters: BenchmarkBroker_HeapPerConnection) and no
// goroutine. (Elsewhere, with Options.GoroutinePerConn,
// and for every TLS connection, each connection has a reading goroutine:
// about 4 KiB of stack and a 512-byte buffer, and TLS's own buffers.)
// What is written to a client waits in a slice that exists only while
// there is a backlog, and the goroutine that writes it exists only as
// long. The retained messages a SUBSCRIBE asks for are looked up by that
// client's writer, not by the reader. In-process subscribers (Local) are
// called on the goroutine that publishes: mostly the reading goroutine
// (the hub's MQTT driver reads its devices without a loopback
// connection), and must not block.
//
// Everything a client, or anyone who can reach the port, can make the
// broker hold is bounded by an Options field; where a bound bites, the
// broker refuses or drops, counts it in Stats and logs a warning at most
// every ten seconds per bound (the rest at debug level):
//
//   - Connections: MaxConnections open in all (5,000; one more is closed
//     on accepting, Stats.ConnectionsRefused), of which MaxPending not
//     admitted by a CONNECT yet (1,024; a new one closes the oldest,
//     Stats.PendingClosed, so idle connections cannot keep devices out),
//     each with ConnectTimeout (5 s) to send a CONNECT of at most
//     MaxConnect bytes (16 KiB); MaxClients admitted (10,000; more get
//     "server unavailable"). Ends of connections not admitted are logged
//     like a bound.
//   - Packets: MaxPacket bytes (256 KiB), whose memory grows as the bytes
//     arrive; filters of 64 levels.
//   - Per client: MaxSubscriptions filters (1,000; SUBACK 0x80 beyond);
//     QueueLen messages waiting to be written or acknowledged (1,024;
//     Stats.Dropped beyond) and MaxQueueBytes of their topics and payloads
//     (4 MiB or twice MaxPacket; Stats.DroppedBytes); 1,024 QoS 2 ids
//     awaiting PUBREL (a protocol error beyond).
//   - All clients: MaxQueuedBytes across every queue, connected or away
//     (64 MiB; Stats.DroppedMemory, Stats.QueuedBytes is the sum now).
//     A message queued for many clients is counted once per client.
//   - Sessions of clients that are away: MaxAwaySessions (1,000; the one
//     away longest is dropped), each for SessionExpiry (24 h).
//   - Retained messages: MaxRetained topics (100,000) and
//     MaxRetainedBytes (64 MiB); beyond them a message is delivered and
//     not retained.
//
// A client that sends faster than it reads is not ended for it: once
// QueueLen packets wait to be written to it (its acknowledgements), the
// broker reads no more of it until its writer takes them, so TCP holds
// the client's sending up. A client is ended as too slow
// (Stats.SlowClients) when it takes no byte of what is written to it for
// WriteTimeout (10 s), so one stuck client never holds up the others.
package broker
