package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"hubd/drivers/modbus/rtu"
)

// ScanOptions configure Scan. Zero values as in Options.
type ScanOptions struct {
	Bus      BusConfig
	Units    []uint8   // the addresses to probe; nil: 1..247
	Profiles []Profile // custom profiles, in addition to Builtin
	Open     func(port string, line Line) (io.ReadWriteCloser, error)
	// Progress, optional, hears each unit as it is probed.
	Progress func(unit uint8)
}

// Found is a slave that answered a scan.
type Found struct {
	Unit uint8
	// Profiles whose identification register read as expected, by name.
	// One: the device is recognized; none or several: ask a person.
	Profiles []string
}

// Scan probes units on a bus that no running Driver owns (stop hubd
// first: two masters on one line garble each other) and reports the
// slaves that answer, with the profiles that recognize them. A slave is
// there when it answers a read of holding register 0, with data or with
// an exception.
func Scan(ctx context.Context, o ScanOptions) ([]Found, error) {
	d, err := New(Options{Buses: []BusConfig{o.Bus}, Profiles: o.Profiles, Open: o.Open})
	if err != nil {
		return nil, err
	}
	profiles, err := Profiles(o.Profiles)
	if err != nil {
		return nil, err
	}
	b := d.buses[0]
	port, err := d.opts.Open(b.cfg.Port, b.cfg.Line)
	if err != nil {
		return nil, err
	}
	defer port.Close()
	b.port = port
	units := o.Units
	if units == nil {
		for u := UnitMin; u <= UnitMax; u++ {
			units = append(units, uint8(u))
		}
	}
	var out []Found
	for _, u := range units {
		if o.Progress != nil {
			o.Progress(u)
		}
		present, err := b.probe(ctx, u)
		if err != nil {
			return out, err
		}
		if present {
			f, err := b.identify(ctx, u, profiles)
			if err != nil {
				return out, err
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// probe reports whether unit answers at all.
func (b *bus) probe(ctx context.Context, unit uint8) (bool, error) {
	_, err := b.transact(ctx, unit, rtu.Request{Func: rtu.ReadHolding, Addr: 0, Value: 1}, 1+b.cfg.Retries)
	var ex *rtu.ExceptionError
	switch {
	case err == nil, errors.As(err, &ex), errors.Is(err, ErrBadReply):
		return true, nil // a garbled answer is still an answer
	case errors.Is(err, ErrTimeout):
		return false, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	return false, fmt.Errorf("modbus: scan unit %d: %w", unit, err)
}

// identify reads every profile's identification register on unit.
func (b *bus) identify(ctx context.Context, unit uint8, profiles map[string]*Profile) (Found, error) {
	f := Found{Unit: unit}
	names := make([]string, 0, len(profiles))
	for n, p := range profiles {
		if p.Ident != nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		id := profiles[n].Ident
		r := id.Register.normal()
		rd := planReads(unit, []fieldReg{{reg: r}})[0]
		data, err := b.transact(ctx, unit, rd.req, 1+b.cfg.Retries)
		if errors.Is(err, ErrPortGone) || ctx.Err() != nil {
			return f, errors.Join(err, ctx.Err())
		}
		if err != nil {
			continue
		}
		v, err := decode(r, rd.req.Addr, data)
		if err == nil && (id.Value == nil || *id.Value == v) {
			f.Profiles = append(f.Profiles, n)
		}
	}
	return f, nil
}
