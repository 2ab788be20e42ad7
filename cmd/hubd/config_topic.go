package main

import "hubd/drivers/mqtt"

// topicError is what the MQTT driver would say about device i's topic
// when `run` starts (a '+', '#' or NUL in it, a '/' where the dialect has
// none), so check-config refuses every file that run refuses.
func (c *Config) topicError(i int) error {
	dev, _ := c.device(i)
	_, _, err := mqtt.ParseAddress(dev.Address)
	return err
}
