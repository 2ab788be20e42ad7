package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"hubd/drivers/modbus"
	"hubd/drivers/modbus/modbussim"
	"hubd/firmware"
)

func init() {
	commands["modbus"] = runModbus
}

// runModbus serves emulated Modbus RTU slaves on a PTY or a real port.
func runModbus(args []string) error {
	fs := flag.NewFlagSet("modbus", flag.ContinueOnError)
	usePTY := fs.Bool("pty", false, "serve on a new pseudo-terminal and print its path")
	dir := fs.String("dir", "", "directory for the stable PTY link ttyHUB<n> (default: a new temp dir)")
	port := fs.String("port", "", "serve on this serial port (e.g. /dev/ttyUSB0) instead of a PTY")
	baud := fs.Int("baud", 9600, "baud rate for -port")
	pace := fs.Int("pace", 0, "on a PTY, answer as slowly as a cable at this baud rate (0: at once)")
	devices := fs.String("devices", "", "slaves, e.g. relay:1:4,dimmer:2:1,sdm120:3:1/0 (relay UNIT:CHANNELS, dimmer UNIT:CHANNELS, sdm120 UNIT[:RELAYUNIT/COIL it meters]); default: the demo's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *usePTY == (*port != "") {
		return fmt.Errorf("modbus: give exactly one of -pty and -port")
	}
	slaves, err := parseSlaves(*devices)
	if err != nil {
		return err
	}
	bus, err := modbussim.NewBus(slaves...)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *port != "" {
		p, err := modbus.OpenTarm(*port, modbus.Line{Baud: *baud})
		if err != nil {
			return err
		}
		defer p.Close()
		fmt.Printf("serving %d Modbus slaves on %s at %d baud 8N1\n", len(slaves), *port, *baud)
		return bus.Serve(ctx, p)
	}
	bus.Baud = *pace
	if *dir == "" {
		d, err := os.MkdirTemp("", "devsim-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	h, err := firmware.StartServer(*dir, bus)
	if err != nil {
		return err
	}
	defer h.Close()
	fmt.Printf("%s -> %s: Modbus RTU\n", h.Path(), h.PTS())
	for _, s := range slaves {
		fmt.Println("  " + s.Describe())
	}
	<-ctx.Done()
	return nil
}

// parseSlaves turns -devices into slaves; "" is modbussim.Demo.
func parseSlaves(spec string) ([]*modbussim.Slave, error) {
	if spec == "" {
		return modbussim.Demo(), nil
	}
	var out []*modbussim.Slave
	relays := map[int]*modbussim.Slave{}
	for item := range strings.SplitSeq(spec, ",") {
		f := strings.Split(item, ":")
		if len(f) < 2 {
			return nil, fmt.Errorf("modbus: %q is not KIND:UNIT[:...]", item)
		}
		unit, err := strconv.Atoi(f[1])
		if err != nil || unit < modbus.UnitMin || unit > modbus.UnitMax {
			return nil, fmt.Errorf("modbus: %q is not KIND:UNIT[:...] with a unit of 1..247", item)
		}
		switch {
		case (f[0] == "relay" || f[0] == "dimmer") && len(f) == 3:
			n, err := strconv.Atoi(f[2])
			if err != nil || n < 1 || n > modbus.MaxChannels {
				return nil, fmt.Errorf("modbus: %q: channels must be 1..%d", item, modbus.MaxChannels)
			}
			if f[0] == "relay" {
				relays[unit] = modbussim.NewRelay(uint8(unit), n)
				out = append(out, relays[unit])
			} else {
				out = append(out, modbussim.NewDimmer(uint8(unit), n))
			}
		case f[0] == "sdm120" && len(f) <= 3:
			var on func() bool
			if len(f) == 3 {
				ru, coil, ok := strings.Cut(f[2], "/")
				r, err1 := strconv.Atoi(ru)
				c, err2 := strconv.Atoi(coil)
				if !ok || err1 != nil || err2 != nil || relays[r] == nil {
					return nil, fmt.Errorf("modbus: %q: the metered relay must be RELAYUNIT/COIL of a relay listed before", item)
				}
				relay := relays[r]
				on = func() bool { return relay.Coil(c) }
			}
			out = append(out, modbussim.NewSDM120(uint8(unit), 120, on))
		default:
			return nil, fmt.Errorf("modbus: %q: want relay:UNIT:CHANNELS, dimmer:UNIT:CHANNELS or sdm120:UNIT[:RELAYUNIT/COIL]", item)
		}
	}
	return out, nil
}
