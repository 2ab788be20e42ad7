package web

import "hubd/hub"

// The per-device families: one series per configured device at most, so
// they are bounded by the device list.
var (
	mDeviceFault    = gaugeDesc("device_fault", "1 for each device with a diagnosis, by its cause code (see README, Reading the status page).", "device", "cause", "severity")
	mDeviceRSSI     = gaugeDesc("device_wifi_rssi_dbm", "Wi-Fi signal a device last reported (Tasmota, Shelly), in dBm.", "device")
	mDeviceLQI      = gaugeDesc("device_zigbee_linkquality", "Zigbee link quality a device last reported (0..255).", "device")
	mDeviceTimeouts = counterDesc("device_serial_timeouts_total", "Exchanges with a serial device that got no reply.", "device")
	mDeviceCRC      = counterDesc("device_serial_crc_errors_total", "Corrupt frames heard while a serial device was polled.", "device")
	mGatewayState   = gaugeDesc("gateway_state", "1 for the status page's verdict (healthy, degraded, down), 0 for the others.", "state")
)

// collectDevices adds reachability, diagnoses, link quality and the
// gateway's verdict, from one walk over the devices.
func (m *metrics) collectDevices(e *exposition) {
	s := m.s
	l := s.links()
	var t hub.Tally
	at := s.instant()
	s.h.Walk(func(d *hub.Device, snap *hub.Snapshot) bool {
		reachable := at.reachable(snap)
		f := s.fault(snap, reachable, &l)
		countDevice(&t, reachable, f != nil)
		if f != nil {
			e.add(mDeviceFault, 1, d.ID, string(f.Code), string(f.Severity))
		}
		if k := snap.Link; k != (hub.Link{}) {
			if k.RSSI != nil {
				e.add(mDeviceRSSI, float64(*k.RSSI), d.ID)
			}
			if k.LQI != nil {
				e.add(mDeviceLQI, float64(*k.LQI), d.ID)
			}
			if d.Driver == "serial" || k.Timeouts+k.CRCErrors > 0 {
				e.add(mDeviceTimeouts, float64(k.Timeouts), d.ID)
				e.add(mDeviceCRC, float64(k.CRCErrors), d.ID)
			}
		}
		return true
	})
	e.add(mDevices, float64(t.Reachable), "online")
	e.add(mDevices, float64(t.Devices-t.Reachable), "offline")
	g := s.gatewayOf(&l, t)
	for _, lv := range []hub.Level{hub.LevelHealthy, hub.LevelDegraded, hub.LevelDown} {
		e.add(mGatewayState, b2f(g.State == lv), string(lv))
	}
}
