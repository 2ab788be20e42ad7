package serial

import (
	"strconv"
	"time"

	"hubd/hub"
)

// crcWindow is how long after a corrupt frame a device that still answers
// is reported with rising CRC errors.
const crcWindow = time.Minute

// linkReport adds to r what the bus saw of n's line: its counts of
// timeouts and corrupt frames when they changed, and a CRC warning while
// corrupt frames keep coming (the hub clears it once a report comes
// without). An offline report keeps its own cause.
func (b *bus) linkReport(n *node, r hub.Report) hub.Report {
	if now := [2]uint64{n.timeouts, n.crcErrors}; now != n.linkSent {
		n.linkSent = now
		r.Link = &hub.Link{Timeouts: n.timeouts, CRCErrors: n.crcErrors}
	}
	if r.Cause == nil && !n.lastCRC.IsZero() && time.Since(n.lastCRC) < crcWindow {
		r.Cause = b.crcCause(n)
	}
	return r
}

func (b *bus) crcCause(n *node) *hub.Cause {
	return &hub.Cause{Code: hub.CauseCRC, Params: map[string]string{
		"bus": b.cfg.Name, "address": strconv.Itoa(int(n.addr)), "count": strconv.FormatUint(n.crcErrors, 10)}}
}

// silentCause says why n stopped answering: corrupt frames came back in
// the last window, or nothing came at all.
func (b *bus) silentCause(n *node, err error) *hub.Cause {
	var c *hub.Cause
	if !n.lastCRC.IsZero() && time.Since(n.lastCRC) < crcWindow {
		c = b.crcCause(n)
	} else {
		c = &hub.Cause{Code: hub.CauseNoReply, Params: map[string]string{"bus": b.cfg.Name, "address": strconv.Itoa(int(n.addr))}}
	}
	if err != nil {
		c.Raw = err.Error()
	}
	return c
}
