package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"hubd/hub"
)

// reportedCaps is what a running daemon last heard a device declare
// (GET /reported on the admin socket).
type reportedCaps struct {
	Driver   string `json:"driver"`
	Address  string `json:"address"`
	Fields   uint16 `json:"fields"`
	TempMinK int    `json:"temperature_min_k"`
	TempMaxK int    `json:"temperature_max_k"`
}

// warnClashes prints, for a checked config, where its devices' entries
// disagree with what the devices declared to the running daemon (found in
// its data directory). Without a running daemon it prints nothing: the
// config alone can not know what a device says.
func warnClashes(c *Config, w io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var rep map[string]reportedCaps
	if err := adminRequest(ctx, c.DataDir, "GET", "/reported", nil, &rep); err != nil {
		return
	}
	for i := range c.Devices {
		d, err := c.device(i)
		r, ok := rep[d.ID]
		if err != nil || !ok || r.Driver != d.Driver || r.Address != d.Address {
			continue
		}
		caps := hub.Caps{Fields: hub.FieldSet(r.Fields), TempMinK: r.TempMinK, TempMaxK: r.TempMaxK}
		if !caps.Valid() {
			continue
		}
		if _, msg := d.Learn(caps); msg != "" {
			fmt.Fprintf(w, "warning: device %q: %s\n", d.ID, msg)
		}
	}
}
