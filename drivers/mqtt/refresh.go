package mqtt

import (
	"time"
)

// minRefreshStep is the shortest pause between refresh queries; with more
// devices than fit at that pace, several are asked per step.
const minRefreshStep = 20 * time.Millisecond

// refresh asks every device for its state once per RefreshInterval,
// spread evenly over it, while the connection is up. The device set is
// read afresh at every step, so SetDevices takes effect within a step.
func (d *Driver) refresh(stop <-chan struct{}) {
	every := d.opts.RefreshInterval
	timer := time.NewTimer(every)
	defer timer.Stop()
	next := 0 // index into the device list of the next device to ask
	for {
		step, batch := refreshStep(every, len(d.tab.Load().devs))
		timer.Reset(step)
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		c := d.client
		if !c.IsConnectionOpen() {
			continue
		}
		devs := d.tab.Load().devs
		recent := time.Now().Add(-every / 2).UnixNano()
		for range min(batch, len(devs)) {
			if next >= len(devs) {
				next = 0
			}
			dv := devs[next]
			next++
			if dv.heard.Load() > recent {
				continue // it spoke lately: no need to ask
			}
			d.ask(c, dv, false, nil)
			d.refreshes.Add(1)
		}
	}
}

// refreshStep is the pause between refresh steps and how many devices
// each step asks, so that n devices are asked once per interval.
func refreshStep(every time.Duration, n int) (time.Duration, int) {
	if n <= 0 {
		return every, 0
	}
	step := every / time.Duration(n)
	if step >= minRefreshStep {
		return step, 1
	}
	batch := int((time.Duration(n)*minRefreshStep + every - 1) / every)
	return every * time.Duration(batch) / time.Duration(n), batch
}
