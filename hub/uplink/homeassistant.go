package uplink

import (
	"hubd/hub"
)

// Home Assistant MQTT discovery: one config per entity at
// <discovery prefix>/<component>/<gateway>/<object id>/config, retained.
// The gateway is the node id, so that a broker ACL can confine a gateway's
// discovery configs as it does its prefix (homeassistant/+/%u/#).
// A lamp is a light with the JSON schema (its state topic already carries
// the JSON that schema reads), a socket a switch; each meter value is a
// sensor with its device class and unit. Every entity is available only
// when both the gateway and the device are online.

// haEntity is the subset of Home Assistant's discovery config hubd uses;
// the names are Home Assistant's.
type haEntity struct {
	Name              string    `json:"name"`
	UniqueID          string    `json:"unique_id"`
	ObjectID          string    `json:"object_id,omitempty"`
	Device            haDevice  `json:"device"`
	Availability      []haAvail `json:"availability"`
	AvailabilityMode  string    `json:"availability_mode"`
	StateTopic        string    `json:"state_topic"`
	CommandTopic      string    `json:"command_topic,omitempty"`
	QoS               byte      `json:"qos"`
	Schema            string    `json:"schema,omitempty"`
	Brightness        *bool     `json:"brightness,omitempty"`
	BrightnessScale   int       `json:"brightness_scale,omitempty"`
	SupportedModes    []string  `json:"supported_color_modes,omitempty"`
	ColorTempKelvin   bool      `json:"color_temp_kelvin,omitempty"`
	MinKelvin         int       `json:"min_kelvin,omitempty"`
	MaxKelvin         int       `json:"max_kelvin,omitempty"`
	PayloadOn         string    `json:"payload_on,omitempty"`
	PayloadOff        string    `json:"payload_off,omitempty"`
	StateOn           string    `json:"state_on,omitempty"`
	StateOff          string    `json:"state_off,omitempty"`
	ValueTemplate     string    `json:"value_template,omitempty"`
	DeviceClass       string    `json:"device_class,omitempty"`
	UnitOfMeasurement string    `json:"unit_of_measurement,omitempty"`
	StateClass        string    `json:"state_class,omitempty"`
}

type haDevice struct {
	Identifiers   []string `json:"identifiers"`
	Name          string   `json:"name"`
	Manufacturer  string   `json:"manufacturer,omitempty"`
	Model         string   `json:"model,omitempty"`
	SWVersion     string   `json:"sw_version,omitempty"`
	SuggestedArea string   `json:"suggested_area,omitempty"`
	ViaDevice     string   `json:"via_device,omitempty"`
}

type haAvail struct {
	Topic         string `json:"topic"`
	ValueTemplate string `json:"value_template"`
}

// haSensor describes the sensor of one meter field.
type haSensor struct {
	field      hub.Field
	class      string
	unit       string
	stateClass string
}

var haSensors = []haSensor{
	{hub.FieldPower, "power", "W", "measurement"},
	{hub.FieldVoltage, "voltage", "V", "measurement"},
	{hub.FieldCurrent, "current", "A", "measurement"},
	{hub.FieldEnergy, "energy", "kWh", "total_increasing"},
}

// haNode is the unique id of a device's main entity, across gateways.
func (u *Uplink) haNode(id string) string { return haID(u.opts.Gateway + "_" + id) }

// haID keeps the characters Home Assistant allows in discovery ids.
func haID(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// discovery returns every discovery topic and config of device d.
func (u *Uplink) discovery(d hub.Device) map[string]haEntity {
	node := u.haNode(d.ID)
	base := haEntity{
		Device: haDevice{Identifiers: []string{"hubd_" + node}, Name: d.Name, Manufacturer: d.Info.Manufacturer,
			Model: d.Info.Model, SWVersion: d.Info.Firmware, SuggestedArea: u.roomName(d.Room), ViaDevice: "hubd_" + haID(u.opts.Gateway)},
		Availability: []haAvail{
			{Topic: u.topics.status(), ValueTemplate: "{{ value_json.status }}"},
			{Topic: u.topics.device(d.ID, leafAvail), ValueTemplate: "{{ value_json.status }}"},
		},
		AvailabilityMode: "all",
		StateTopic:       u.topics.device(d.ID, leafState),
		QoS:              u.opts.QoS,
	}
	out := map[string]haEntity{}
	gw, obj := haID(u.opts.Gateway), haID(d.ID)
	at := func(component, object string) string {
		return u.opts.DiscoveryPrefix + "/" + component + "/" + gw + "/" + object + "/config"
	}
	if d.Fields.Has(hub.FieldOn) {
		e := base
		e.Name, e.UniqueID, e.CommandTopic = d.Name, node, u.topics.device(d.ID, leafSet)
		if d.Kind == hub.KindLight {
			u.haLight(&e, d)
			out[at("light", obj)] = e
		} else {
			e.PayloadOn, e.PayloadOff = `{"state":"ON"}`, `{"state":"OFF"}`
			e.StateOn, e.StateOff = "ON", "OFF"
			e.ValueTemplate = "{{ value_json.state }}"
			out[at("switch", obj)] = e
		}
	}
	for _, s := range haSensors {
		if !d.Fields.Has(s.field) {
			continue
		}
		e := base
		e.Name, e.UniqueID = s.class, node+"_"+s.field.String()
		e.DeviceClass, e.UnitOfMeasurement, e.StateClass = s.class, s.unit, s.stateClass
		e.ValueTemplate = "{{ value_json." + s.field.String() + " }}"
		out[at("sensor", obj+"_"+s.field.String())] = e
	}
	return out
}

func (u *Uplink) haLight(e *haEntity, d hub.Device) {
	e.Schema = "json"
	var modes []string
	if d.Fields.Has(hub.FieldColor) {
		modes = append(modes, "hs")
	}
	if d.Fields.Has(hub.FieldTemperatureK) {
		modes = append(modes, "color_temp")
		e.ColorTempKelvin, e.MinKelvin, e.MaxKelvin = true, d.TempMinK, d.TempMaxK
	}
	if len(modes) == 0 && d.Fields.Has(hub.FieldBrightness) {
		modes = append(modes, "brightness")
	}
	if len(modes) == 0 {
		modes = append(modes, "onoff")
	}
	e.SupportedModes = modes
	if d.Fields.Has(hub.FieldBrightness) {
		e.BrightnessScale = 100
	}
}

func (u *Uplink) roomName(id string) string {
	if n := u.opts.Hub.Site().Find(id); n != nil {
		return n.Name
	}
	return ""
}

// publishDiscovery publishes the discovery configs of every device.
func (u *Uplink) publishDiscovery() {
	for _, d := range u.opts.Hub.Devices() {
		if !topicSafe(d.ID) {
			continue
		}
		for topic, e := range u.discovery(d) {
			u.publish(topic, true, mustJSON(e))
		}
	}
}
