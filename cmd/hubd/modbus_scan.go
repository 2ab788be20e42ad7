package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"hubd/drivers/modbus"
)

// runModbusScan is `hubd modbus-scan -config FILE -bus NAME [-units LIST]`:
// it probes the bus's unit addresses and prints the slaves that answer,
// the profiles that recognize them and the devices the file already has
// there. The daemon must not run on the bus meanwhile.
func runModbusScan(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("modbus-scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	busName := fs.String("bus", "", "the serial bus (protocol: modbus) to scan")
	unitList := fs.String("units", "1-247", "unit addresses to probe: 1-32, or 1,2,5")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	units, err := parseUnits(*unitList)
	if err != nil {
		return usageError("hubd modbus-scan: " + err.Error())
	}
	c, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	o := modbusOptions(c)
	var bus *modbus.BusConfig
	for i := range o.Buses {
		if o.Buses[i].Name == *busName {
			bus = &o.Buses[i]
		}
	}
	if bus == nil {
		return usageError(fmt.Sprintf("hubd modbus-scan: %q is not a serial bus with protocol: modbus in %s", *busName, *path))
	}
	ctx, cancel := signalContext()
	defer cancel()
	found, err := modbus.Scan(ctx, modbus.ScanOptions{Bus: *bus, Units: units, Profiles: o.Profiles})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%s): %d of %d addresses answer\n", bus.Name, bus.Port, len(found), len(units))
	for _, f := range found {
		fmt.Fprintf(stdout, "unit %d: %s%s\n", f.Unit, proposal(f.Profiles), configuredAt(o.Devices, bus.Name, f.Unit))
	}
	return nil
}

func proposal(profiles []string) string {
	switch len(profiles) {
	case 0:
		return "no profile recognizes it: give its devices a profile"
	case 1:
		return "profile " + profiles[0]
	}
	return "profile " + strings.Join(profiles, " or ") + " (choose one)"
}

// configuredAt names the devices of the file on unit, as device or meter.
func configuredAt(devs []modbus.Device, bus string, unit uint8) string {
	var ids []string
	for _, d := range devs {
		if d.Bus != bus {
			continue
		}
		if d.Unit == unit {
			ids = append(ids, d.ID)
		}
		if d.Meter != nil && d.Meter.Unit == unit {
			ids = append(ids, d.ID+" (meter)")
		}
	}
	if len(ids) == 0 {
		return "; not in the config yet"
	}
	return "; configured: " + strings.Join(ids, ", ")
}

// parseUnits reads "1-32" or "1,2,5" (or a mix) into unit addresses.
func parseUnits(s string) ([]uint8, error) {
	var out []uint8
	seen := map[int]bool{}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < modbus.UnitMin || b > modbus.UnitMax || a > b {
			return nil, fmt.Errorf("units %q: want addresses %d..%d as 1-32 or 1,2,5", s, modbus.UnitMin, modbus.UnitMax)
		}
		for u := a; u <= b; u++ {
			if !seen[u] {
				seen[u] = true
				out = append(out, uint8(u))
			}
		}
	}
	return out, nil
}
