package mqtt

import (
	"testing"

	"hubd/drivers/mqtt/broker"
)

// Logged-in clients follow max_connections, above the broker's default
// too; unset, the broker's default holds.
func TestBrokerLimits_MaxClientsFollowsMaxConnections(t *testing.T) {
	for _, c := range []struct{ conns, want int }{{0, 0}, {12_000, 12_000}, {3, 3}} {
		if got := (BrokerLimits{MaxConnections: c.conns}).maxClients(); got != c.want {
			t.Errorf("max_connections %d: MaxClients %d, want %d", c.conns, got, c.want)
		}
	}
	if broker.DefaultMaxClients < 5000 {
		t.Fatalf("the broker's default MaxClients %d is under the default max_connections", broker.DefaultMaxClients)
	}
}
