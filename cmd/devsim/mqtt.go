package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"hubd/drivers/mqtt/mqttsim"
)

func init() {
	commands["mqtt"] = runMQTT
}

// runMQTT emulates Tasmota, Zigbee2MQTT and Shelly devices on a broker:
// the demo's three devices by default, or -n of them for load tests.
func runMQTT(args []string) error {
	fs := flag.NewFlagSet("mqtt", flag.ContinueOnError)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "broker URL (tcp://HOST:PORT)")
	user := fs.String("username", "", "broker username")
	pass := fs.String("password", "", "broker password")
	n := fs.Int("n", 0, "emulate N devices of every dialect and kind (0: the demo's lamp-2, socket-2, lamp-3)")
	fullTopic := fs.String("fulltopic", "%prefix%/%topic%/", "Tasmota FullTopic pattern")
	z2mBase := fs.String("z2m-base", "zigbee2mqtt", "Zigbee2MQTT base topic")
	tele := fs.Duration("telemetry", 30*time.Second, "telemetry period (negative: none)")
	withNew := fs.Bool("new", false, "also run mqttsim.DemoNew: a Tasmota 4-relay, a Z2M CT bulb, a Shelly Gen1 plug and 2-relay switch, a Gen2 plug, Gen2 RGBW and CCT lights (for discovery)")
	verbose := fs.Bool("v", false, "log debug output")
	cutSpec := fs.String("power-cut", "", powerCutHelp)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cuts, err := parsePowerCuts(*cutSpec)
	if err != nil {
		return err
	}
	if *n < 0 || *n > 100000 {
		return fmt.Errorf("devsim mqtt: -n %d out of range 0..100000", *n)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	specs := mqttsim.Demo()
	if *n > 0 {
		specs = mqttsim.Mass(*n)
	}
	if err := checkCutNames(cuts, specs); err != nil {
		return err
	}
	if *withNew {
		specs = append(specs, mqttsim.DemoNew()...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sim, err := mqttsim.Start(ctx, mqttsim.Options{
		Broker: *broker, Username: *user, Password: *pass, Devices: specs,
		TasmotaFullTopic: *fullTopic, Z2MBase: *z2mBase, Telemetry: *tele, Logger: log,
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop() // first: the power cuts end with ctx
	for _, c := range cuts {
		wg.Add(1)
		go cutPower(ctx, &wg, sim, c, log)
	}
	for i, s := range specs {
		if i == 10 && len(specs) > 12 {
			log.Info("...", "more", len(specs)-10)
			break
		}
		log.Info("device up", "id", s.ID, "address", s.Address(), "kind", s.Kind)
	}
	<-ctx.Done()
	return nil
}

func checkCutNames(cuts []powerCut, specs []mqttsim.Spec) error {
	names := map[string]bool{}
	for _, s := range specs {
		names[s.Name] = true
	}
	for _, c := range cuts {
		if !names[c.name] {
			return fmt.Errorf("mqtt: power cut: no device %q", c.name)
		}
	}
	return nil
}

// cutPower waits c.after, then cuts the device's power for c.dur (for
// good without one).
func cutPower(ctx context.Context, wg *sync.WaitGroup, sim *mqttsim.Sim, c powerCut, log *slog.Logger) {
	defer wg.Done()
	t := time.NewTimer(c.after)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	if err := sim.PowerCut(c.name, c.dur); err != nil {
		log.Warn("power cut failed", "device", c.name, "err", err)
		return
	}
	log.Info("power cut", "device", c.name, "back_in", c.dur)
}
