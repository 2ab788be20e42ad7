package main

import (
	"errors"
	"fmt"

	"hubd/hub"
	"hubd/hub/web"
)

// adoptedAccount gives a device adopted on the embedded broker its own
// MQTT account: a new password when the account has none (shown this
// once), and says how the device is given it (driver is the config
// file's: tasmota, shelly, shelly2, zigbee2mqtt). With an external broker
// it says the broker keeps the accounts. A failure to store the password
// leaves the device adopted and says what to run.
func (m *Main) adoptedAccount(d hub.Device, driver string) (*web.MQTTPassword, string) {
	c := m.config()
	if c.MQTT == nil {
		return nil, ""
	}
	if c.MQTT.Broker != "" || m.mqttCreds == nil {
		return nil, "The MQTT broker is external: give the device an account there (`hubd mosquitto-acl` prints its rules)."
	}
	adm := accountAdmin{creds: m.mqttCreds, accounts: c.mqttAccounts}
	ac, err := adm.resolve(d.ID)
	if err != nil {
		m.Log.Error("adopted device has no MQTT account", "device", d.ID, "err", err)
		return nil, "Its MQTT account could not be found: " + err.Error()
	}
	if _, has := m.mqttCreds.get(ac.Name); has {
		return &web.MQTTPassword{Account: ac.Name, Devices: ac.Devices}, howToLogIn(driver, ac.Name, "")
	}
	info, err := adm.setPassword(ac.Name, false)
	if errors.Is(err, errMQTTAccountExists) { // made meanwhile, by someone else
		return &web.MQTTPassword{Account: ac.Name, Devices: ac.Devices}, howToLogIn(driver, ac.Name, "")
	}
	if err != nil {
		m.Log.Error("adopted device's MQTT account got no password", "device", d.ID, "account", ac.Name, "err", err)
		return &web.MQTTPassword{Account: ac.Name, Devices: ac.Devices},
			fmt.Sprintf("Its account %s has no password yet (%v): run `hubd mqtt-account create %s`.", ac.Name, err, ac.Name)
	}
	m.auditAccount(info.Name, "created", "adoption of "+d.ID)
	return &web.MQTTPassword{Account: info.Name, Devices: info.Devices, Password: info.Password, PasswordFileLine: info.Name + ":" + info.Hash},
		howToLogIn(driver, info.Name, info.Password)
}

// howToLogIn says where a device of driver takes its MQTT login (pw ""
// when the account had a password already). Until it logs in with it, a
// device that came in through a commissioning window is off line once the
// window closes.
func howToLogIn(driver, user, pw string) string {
	if pw == "" {
		pw = "<the account's password>"
	}
	switch driver {
	case "tasmota":
		return fmt.Sprintf("In the device's Console: Backlog MqttUser %s; MqttPassword %s", user, pw)
	case "shelly":
		return "In the device's web page: Internet & Security > Advanced - Developer Settings > MQTT: user " + user + ", password " + pw
	case "shelly2":
		return "In the device's web page: Settings > MQTT: user " + user + ", password " + pw
	case "zigbee2mqtt":
		return "In Zigbee2MQTT's configuration.yaml: mqtt.user " + user + ", mqtt.password " + pw + " (the bridge speaks for all Zigbee devices)"
	}
	return "Give the device MQTT user " + user + " and password " + pw
}
