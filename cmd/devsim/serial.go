package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tarm/serial"

	"hubd/firmware"
	"hubd/firmware/wire"
)

func init() {
	commands["serial"] = runSerial
}

// runSerial serves emulated lamps and sockets on PTYs or a real port. They
// accept firmware updates signed with firmware.DemoVendorKey (demo only:
// build images with "devsim firmware-image -demo-key").
func runSerial(args []string) error {
	fs := flag.NewFlagSet("serial", flag.ContinueOnError)
	usePTY := fs.Bool("pty", false, "serve on new pseudo-terminals and print their paths")
	dir := fs.String("dir", "", "directory for the stable PTY links ttyHUB<n> (default: a new temp dir)")
	port := fs.String("port", "", "serve on this serial port (e.g. /dev/ttyUSB0) instead of a PTY")
	baud := fs.Int("baud", 115200, "baud rate for -port")
	devices := fs.String("devices", "", "device list, e.g. lamp:1,socket:2,white:3 (white: a tunable-white lamp; default: the demo's lamp:1,socket:2)")
	lamps := fs.Int("lamps", 0, "emulate N lamps at addresses from 1 (with -sockets, instead of -devices)")
	sockets := fs.Int("sockets", 0, "emulate N sockets after the lamps")
	n := fs.Int("n", 0, "mass emulation: N devices, lamps and sockets alternating, -per-bus on each PTY")
	perBus := fs.Int("per-bus", 32, "devices per bus with -n")
	faultSpec := fs.String("faults", "", serialFaultsHelp)
	if err := fs.Parse(args); err != nil {
		return err
	}
	faults, err := parseSerialFaults(*faultSpec)
	if err != nil {
		return err
	}
	if *usePTY == (*port != "") {
		return fmt.Errorf("serial: give exactly one of -pty and -port")
	}
	buses, err := buildBuses(*devices, *lamps, *sockets, *n, *perBus)
	if err != nil {
		return err
	}
	if *port != "" && len(buses) > 1 {
		return fmt.Errorf("serial: -port serves one bus; %d devices need %d", *n, len(buses))
	}
	fmt.Printf("devices accept firmware signed with the demo vendor key %s (demo only; build images with devsim firmware-image -demo-key)\n", hex.EncodeToString(firmware.DemoVendorPublicKey()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop() // first: the flapping goroutines end with ctx
	if err := applySerialFaults(ctx, &wg, buses, faults); err != nil {
		return err
	}
	for _, f := range faults {
		fmt.Printf("fault: %s at address %d\n", f.kind, f.addr)
	}

	if *port != "" {
		p, err := serial.OpenPort(&serial.Config{Name: *port, Baud: *baud, ReadTimeout: 100 * time.Millisecond})
		if err != nil {
			return fmt.Errorf("serial: open %s: %w", *port, err)
		}
		defer p.Close()
		fmt.Printf("serving %d devices on %s at %d baud\n", len(buses[0].Devices()), *port, *baud)
		return buses[0].Serve(ctx, p)
	}

	if *dir == "" {
		d, err := os.MkdirTemp("", "devsim-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	for _, b := range buses {
		h, err := firmware.StartBus(*dir, b)
		if err != nil {
			return err
		}
		defer h.Close()
		fmt.Printf("%s -> %s: %s\n", h.Path(), h.PTS(), describe(b))
	}
	<-ctx.Done()
	return nil
}

// buildBuses turns the device flags into buses.
func buildBuses(spec string, lamps, sockets, n, perBus int) ([]*firmware.Bus, error) {
	type dev struct {
		kind string
		addr int
	}
	var list [][]dev
	switch {
	case n > 0:
		if perBus < 1 || perBus > wire.AddrMax {
			return nil, fmt.Errorf("serial: -per-bus %d is outside 1..%d", perBus, wire.AddrMax)
		}
		if n > 100000 {
			return nil, fmt.Errorf("serial: -n %d is more than 100000", n)
		}
		for i := range n {
			if i%perBus == 0 {
				list = append(list, nil)
			}
			kind := "lamp"
			if i%2 == 1 {
				kind = "socket"
			}
			list[len(list)-1] = append(list[len(list)-1], dev{kind, i%perBus + 1})
		}
	case lamps > 0 || sockets > 0:
		if lamps < 0 || sockets < 0 || lamps+sockets > wire.AddrMax {
			return nil, fmt.Errorf("serial: %d lamps and %d sockets do not fit addresses 1..%d", lamps, sockets, wire.AddrMax)
		}
		var one []dev
		for i := range lamps {
			one = append(one, dev{"lamp", i + 1})
		}
		for i := range sockets {
			one = append(one, dev{"socket", lamps + i + 1})
		}
		list = [][]dev{one}
	default:
		if spec == "" {
			spec = "lamp:1,socket:2"
		}
		var one []dev
		for _, item := range strings.Split(spec, ",") {
			kind, num, ok := strings.Cut(strings.TrimSpace(item), ":")
			a, err := strconv.Atoi(num)
			if !ok || err != nil {
				return nil, fmt.Errorf("serial: device %q is not kind:address", item)
			}
			one = append(one, dev{kind, a})
		}
		list = [][]dev{one}
	}
	var out []*firmware.Bus
	for _, devs := range list {
		b, err := firmware.NewBus()
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			if d.addr < wire.AddrMin || d.addr > wire.AddrMax {
				return nil, fmt.Errorf("serial: address %d is outside %d..%d", d.addr, wire.AddrMin, wire.AddrMax)
			}
			var fd firmware.Device
			switch d.kind {
			case "lamp":
				fd, err = firmware.NewLamp(uint8(d.addr), firmware.LampConfig{VendorKey: firmware.DemoVendorPublicKey()})
			case "white": // a tunable-white lamp: its INFO has no color, 3000..6000 K
				fd, err = firmware.NewLamp(uint8(d.addr), firmware.LampConfig{Model: "HL-W", White: true, MinK: 3000, MaxK: 6000, VendorKey: firmware.DemoVendorPublicKey()})
			case "socket":
				fd, err = firmware.NewSocket(uint8(d.addr), firmware.SocketConfig{VendorKey: firmware.DemoVendorPublicKey()})
			default:
				return nil, fmt.Errorf("serial: unknown device kind %q (lamp, white or socket)", d.kind)
			}
			if err != nil {
				return nil, err
			}
			if err := b.Add(fd); err != nil {
				return nil, err
			}
		}
		out = append(out, b)
	}
	return out, nil
}

func describe(b *firmware.Bus) string {
	var parts []string
	for _, d := range b.Devices() {
		kind := "lamp"
		if _, ok := d.(*firmware.Socket); ok {
			kind = "socket"
		}
		parts = append(parts, fmt.Sprintf("%s:%d", kind, d.Addr()))
	}
	if len(parts) > 8 {
		return fmt.Sprintf("%d devices, %s ... %s", len(parts), parts[0], parts[len(parts)-1])
	}
	return strings.Join(parts, ",")
}
