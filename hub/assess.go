package hub

// Level is how the whole gateway is doing, as the status page's header
// says it. /healthz is another thing: it tells systemd whether the daemon
// itself lives, and stays "ok" while devices fail.
type Level string

const (
	// LevelHealthy: the daemon's own checks pass, every bus and broker is
	// up, and no device has a fault.
	LevelHealthy Level = "healthy"
	// LevelDegraded: the daemon works, but a device has a fault, or a bus,
	// broker or cloud link (Yandex notifications, Alexa sync, the fleet
	// uplink with events waiting) is down while some devices still answer.
	LevelDegraded Level = "degraded"
	// LevelDown: the daemon cannot do its job: its own checks fail (the
	// store), or devices are configured and none can be reached.
	LevelDown Level = "down"
)

// Tally is what Assess weighs.
type Tally struct {
	CheckFailed bool // the daemon's own health check failed
	Devices     int  // devices configured
	Reachable   int  // of them, online and not stale
	Faulty      int  // of them, with a fault (unreachable or warning)
	Links       int  // buses, broker connections and cloud links configured
	LinksDown   int  // of them, not open, not connected or failing
}

// Assess grades the gateway.
func Assess(t Tally) Level {
	switch {
	case t.CheckFailed, t.Devices > 0 && t.Reachable == 0:
		return LevelDown
	case t.Faulty > 0, t.LinksDown > 0, t.Reachable < t.Devices:
		return LevelDegraded
	}
	return LevelHealthy
}
