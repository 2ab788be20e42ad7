package main

// shareStrings makes the configuration's repeated values one string each.
// The YAML decoder gives every scalar its own copy, so a site of 10,000
// devices held 10,000 copies of "light" and "tasmota", tens of thousands
// of capability names, and every device id twice (its entry and its
// room's list): some 0.5 MB kept for as long as the configuration is.
// The table lives only while the file is loaded.
func (c *Config) shareStrings() {
	s := stringTable{}
	for i := range c.Devices {
		d := &c.Devices[i]
		for _, p := range []*string{&d.ID, &d.Kind, &d.Driver, &d.Bus, &d.Profile, &d.MQTTAccount, &d.Component} {
			*p = s.share(*p)
		}
		for j := range d.Capabilities {
			d.Capabilities[j] = s.share(d.Capabilities[j])
		}
	}
	var walk func(ns []*NodeConfig)
	walk = func(ns []*NodeConfig) {
		for _, n := range ns {
			n.Kind = s.share(n.Kind)
			for j := range n.Devices {
				n.Devices[j] = s.share(n.Devices[j])
			}
			walk(n.Children)
		}
	}
	walk(c.Site)
}

// stringTable hands out one copy of each string value.
type stringTable map[string]string

func (t stringTable) share(v string) string {
	if v == "" {
		return ""
	}
	if s, ok := t[v]; ok {
		return s
	}
	t[v] = v
	return v
}
