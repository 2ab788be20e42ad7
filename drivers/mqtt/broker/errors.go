package broker

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed is returned when a packet breaks the MQTT 3.1.1 rules
	// (a bad length, a reserved flag set, a truncated field).
	ErrMalformed = errors.New("broker: malformed packet")
	// ErrTooLarge is returned when a packet is longer than
	// Options.MaxPacket; the connection is closed without reading it.
	ErrTooLarge = errors.New("broker: packet too large")
	// ErrProtocol is returned when a client sends a packet the protocol
	// does not allow at that point (a second CONNECT, a CONNACK).
	ErrProtocol = errors.New("broker: protocol violation")
	// ErrBadTopic is returned when a topic name or filter is empty, not
	// UTF-8, holds U+0000, or misplaces a wildcard.
	ErrBadTopic = errors.New("broker: invalid topic")
	// ErrRefused is returned when a CONNECT is refused (version,
	// client id, credentials, server full); the client got a CONNACK
	// saying why.
	ErrRefused = errors.New("broker: connection refused")
	// ErrKeepAlive is returned when a client sent nothing for one and a
	// half times its keep-alive.
	ErrKeepAlive = errors.New("broker: keep-alive expired")
	// ErrIDInUse is returned when a CONNECT names a client id that a
	// client of another user name is connected under (refused with "not
	// authorized"; the connected client stays).
	ErrIDInUse = fmt.Errorf("%w: client id in use by another user", ErrRefused)
	// ErrTakenOver is returned when a client's connection was closed
	// because another connection took its client id.
	ErrTakenOver = errors.New("broker: session taken over by a new connection")
	// ErrSlowClient is returned when a client did not take its messages
	// within the write timeout.
	ErrSlowClient = errors.New("broker: client too slow to take its messages")
	// ErrCrowded is returned when a connection that had not sent CONNECT
	// was closed for a newer one, past Options.MaxPending.
	ErrCrowded = errors.New("broker: closed to make room for a newer connection")
	// ErrTLS is returned when the TLS listener's certificate and key
	// cannot be used (missing, unreadable, not a pair).
	ErrTLS = errors.New("broker: TLS certificate")
	// ErrDisconnected is why a connection ended by Disconnect ended: the
	// process revoked its client's right to be connected.
	ErrDisconnected = errors.New("broker: disconnected by the broker's owner")
	// ErrClosed is returned by Serve after Close, and by Publish and
	// Subscribe on a closed broker.
	ErrClosed = errors.New("broker: closed")
)
