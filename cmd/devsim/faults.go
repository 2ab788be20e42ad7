package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"hubd/firmware"
	"hubd/firmware/wire"
)

// serialFault is one entry of "devsim serial -faults": a bench failure for
// the device at addr (on every bus that has one).
//
//	mute:ADDR          the device ignores every frame (dead, unplugged)
//	slow:ADDR=DUR      it answers DUR late
//	noisy:ADDR=N       every N-th reply goes out with a bad CRC
//	flap:ADDR=PERIOD   it is mute and back in turns, PERIOD each
type serialFault struct {
	kind string
	addr uint8
	dur  time.Duration
	n    int
}

// listItems splits a comma-separated flag value into its trimmed,
// non-empty items.
func listItems(spec string) []string {
	var out []string
	for _, item := range strings.Split(spec, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

const serialFaultsHelp = "bench faults, comma-separated: mute:ADDR, slow:ADDR=DUR, noisy:ADDR=N (every N-th reply with a bad CRC), flap:ADDR=PERIOD"

func parseSerialFaults(spec string) ([]serialFault, error) {
	var out []serialFault
	for _, item := range listItems(spec) {
		kind, rest, _ := strings.Cut(item, ":")
		addrS, arg, hasArg := strings.Cut(rest, "=")
		a, err := strconv.Atoi(addrS)
		if err != nil || a < wire.AddrMin || a > wire.AddrMax {
			return nil, fmt.Errorf("serial: fault %q: address must be %d..%d", item, wire.AddrMin, wire.AddrMax)
		}
		f := serialFault{kind: kind, addr: uint8(a)}
		switch kind {
		case "mute":
			if hasArg {
				return nil, fmt.Errorf("serial: fault %q: mute takes no value", item)
			}
		case "slow", "flap":
			f.dur, err = time.ParseDuration(arg)
			if err != nil || f.dur <= 0 || f.dur > time.Hour {
				return nil, fmt.Errorf("serial: fault %q: want a duration up to 1h, e.g. %s:%d=300ms", item, kind, a)
			}
		case "noisy":
			f.n, err = strconv.Atoi(arg)
			if err != nil || f.n < 1 || f.n > 1000000 {
				return nil, fmt.Errorf("serial: fault %q: want every N-th reply, N from 1, e.g. noisy:%d=3", item, a)
			}
		default:
			return nil, fmt.Errorf("serial: fault %q: kind is not mute, slow, noisy or flap", item)
		}
		out = append(out, f)
	}
	return out, nil
}

// applySerialFaults sets the faults on the buses' devices. Flapping runs
// in goroutines that end with ctx; wait for them with wg.
func applySerialFaults(ctx context.Context, wg *sync.WaitGroup, buses []*firmware.Bus, faults []serialFault) error {
	for _, f := range faults {
		found := false
		for _, b := range buses {
			d := b.Device(f.addr)
			if d == nil {
				continue
			}
			found = true
			switch f.kind {
			case "mute":
				d.Faults().SetMute(true)
			case "slow":
				d.Faults().SetDelay(f.dur)
			case "noisy":
				d.Faults().CorruptEvery(f.n)
			case "flap":
				wg.Add(1)
				go flap(ctx, wg, d.Faults(), f.dur)
			}
		}
		if !found {
			return fmt.Errorf("serial: fault %s:%d: no device at address %d", f.kind, f.addr, f.addr)
		}
	}
	return nil
}

// flap mutes and unmutes a device every period until ctx ends.
func flap(ctx context.Context, wg *sync.WaitGroup, f *firmware.Faults, period time.Duration) {
	defer wg.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	mute := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			mute = !mute
			f.SetMute(mute)
		}
	}
}

// powerCut is one entry of "devsim mqtt -power-cut": NAME=AFTER[/FOR], the
// device loses power AFTER from start (the broker sends its will) and
// comes back FOR later (never without FOR).
type powerCut struct {
	name       string
	after, dur time.Duration
}

const powerCutHelp = "cut devices' power, comma-separated NAME=AFTER[/FOR]: after AFTER the device drops off (the broker publishes its will) and comes back FOR later (without FOR: never)"

func parsePowerCuts(spec string) ([]powerCut, error) {
	var out []powerCut
	for _, item := range listItems(spec) {
		name, when, ok := strings.Cut(item, "=")
		after, back, hasBack := strings.Cut(when, "/")
		p := powerCut{name: name}
		var err error
		if p.after, err = time.ParseDuration(after); !ok || name == "" || err != nil || p.after < 0 {
			return nil, fmt.Errorf("mqtt: power cut %q: want NAME=AFTER[/FOR], e.g. demo-lamp-2=10s/30s", item)
		}
		if hasBack {
			if p.dur, err = time.ParseDuration(back); err != nil || p.dur <= 0 {
				return nil, fmt.Errorf("mqtt: power cut %q: FOR must be a positive duration", item)
			}
		}
		out = append(out, p)
	}
	return out, nil
}
