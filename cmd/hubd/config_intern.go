package main

import (
	"slices"
	"strings"
)

// packStrings makes the configuration's text compact: each distinct
// value once (the YAML decoder gives every scalar its own copy, so a site
// of 10,000 devices held 10,000 copies of "light" and "tasmota", tens of
// thousands of capability names, and every device id twice: its entry
// and its room's list), each copied anew, one after the other, as are the
// devices' capability lists. The decoder's copies sat among its garbage
// and, kept for as long as the configuration is, held the heap's pages
// part empty: with 10,000 devices 2 MiB of free slots the collector
// could not give back. Each value stays a string of its own (not a piece
// of one block), so whatever keeps one after a reload keeps that alone.
func (c *Config) packStrings() {
	copies := map[string]string{}
	c.eachString(func(p *string) {
		if *p == "" {
			return
		}
		v, ok := copies[*p]
		if !ok {
			v = strings.Clone(*p)
			copies[v] = v
		}
		*p = v
	})
	for i := range c.Devices {
		if d := &c.Devices[i]; d.Capabilities != nil {
			d.Capabilities = slices.Clone(d.Capabilities)
		}
	}
}

// eachString calls f with every string of the devices and the site that
// the configuration keeps per device or room.
func (c *Config) eachString(f func(*string)) {
	for i := range c.Devices {
		d := &c.Devices[i]
		for _, p := range []*string{&d.ID, &d.Name, &d.Kind, &d.Driver, &d.Bus, &d.Topic, &d.Profile, &d.MQTTAccount, &d.Component} {
			f(p)
		}
		for j := range d.Capabilities {
			f(&d.Capabilities[j])
		}
	}
	var walk func(ns []*NodeConfig)
	walk = func(ns []*NodeConfig) {
		for _, n := range ns {
			f(&n.ID)
			f(&n.Name)
			f(&n.Kind)
			for j := range n.Devices {
				f(&n.Devices[j])
			}
			walk(n.Children)
		}
	}
	walk(c.Site)
}
