package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"hubd/hub/web"
)

// discoveryUsage is the usage of the discovery and adoption commands.
const discoveryUsage = `  hubd discover -config FILE [-scan BUS [-from N -to N]] [-json]   list found devices the config does not name yet
  hubd adopt -config FILE -address ADDR [-driver D] -id ID -name NAME -room ROOM
  hubd forget -config FILE -id ID
  hubd config export -config FILE   print config file + adopted devices as one config
  hubd commission -config FILE [-for 30m | -close | -status]   let new MQTT devices log in to announce themselves`

// runDiscoveryCommand runs discover, adopt, forget and config export; ok
// is false for any other command.
func runDiscoveryCommand(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) (ok bool, err error) {
	switch cmd {
	case "discover":
		return true, runDiscover(ctx, args, stdout, stderr)
	case "adopt":
		return true, runAdopt(ctx, args, stdout, stderr)
	case "forget":
		return true, runForget(ctx, args, stdout, stderr)
	case "commission":
		return true, runCommission(ctx, args, stdout, stderr)
	case "config":
		if len(args) == 0 || args[0] != "export" {
			return true, usageError("usage:\n" + discoveryUsage)
		}
		return true, runExport(args[1:], stdout, stderr)
	}
	return false, nil
}

// cliFlags makes a flag set with -config; parse reads the config file
// for its data directory.
func cliFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs, fs.String("config", defaultConfig, "configuration file")
}

func parseCLI(fs *flag.FlagSet, path *string, args []string) (*Config, error) {
	if err := fs.Parse(args); err != nil {
		return nil, usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return nil, usageError(fmt.Sprintf("hubd %s: unexpected argument %q", fs.Name(), fs.Arg(0)))
	}
	return loadConfigFile(*path)
}

func runDiscover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := cliFlags("discover", stderr)
	scan := fs.String("scan", "", "scan this serial bus first")
	from := fs.Int("from", 1, "first address to scan")
	to := fs.Int("to", 247, "last address to scan")
	asJSON := fs.Bool("json", false, "print JSON")
	c, err := parseCLI(fs, path, args)
	if err != nil {
		return err
	}
	if *scan != "" {
		var found []web.NewDevice
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if err := adminRequest(sctx, c.DataDir, "POST", "/scan", ScanRequest{Bus: *scan, From: *from, To: *to}, &found); err != nil {
			return fmt.Errorf("discover: scan %s: %w", *scan, err)
		}
	}
	var list []web.NewDevice
	if err := adminRequest(ctx, c.DataDir, "GET", "/discovered", nil, &list); err != nil {
		return fmt.Errorf("discover: %w", err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no new devices")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DRIVER\tADDRESS\tKIND\tMODEL\tCAPABILITIES\tNAME\tNOTE")
	for _, d := range list {
		caps := strings.Join(d.Capabilities, ",")
		if d.TempMaxK > 0 {
			caps += fmt.Sprintf(" (%d..%d K)", d.TempMinK, d.TempMaxK)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Driver, d.Address, d.Kind, d.Info.Model, caps, d.Name, d.Unsupported)
	}
	return tw.Flush()
}

func runAdopt(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := cliFlags("adopt", stderr)
	var r web.AdoptRequest
	fs.StringVar(&r.Address, "address", "", "the found device's address, as hubd discover lists it")
	fs.StringVar(&r.Driver, "driver", "", "the found device's driver (default: mqtt, or serial for BUS/N)")
	fs.StringVar(&r.ID, "id", "", "device id to give it")
	fs.StringVar(&r.Name, "name", "", "its name for people")
	fs.StringVar(&r.Room, "room", "", "id of the site node it sits in")
	c, err := parseCLI(fs, path, args)
	if err != nil {
		return err
	}
	if r.Driver == "" {
		r.Driver = "mqtt"
		if !strings.Contains(r.Address, ":") {
			r.Driver = "serial"
		}
	}
	var out struct {
		ID           string
		Room         string
		Capabilities string
		MQTTAccount  *web.MQTTPassword `json:"mqtt_account"`
		Next         string
	}
	if err := adminRequest(ctx, c.DataDir, "POST", "/adopt", r, &out); err != nil {
		return fmt.Errorf("adopt: %w", err)
	}
	fmt.Fprintf(stdout, "adopted %s in %s (%s)\n", out.ID, out.Room, out.Capabilities)
	if a := out.MQTTAccount; a != nil && a.Password != "" {
		fmt.Fprintf(stdout, "MQTT user:     %s\nMQTT password: %s   (shown this once)\n", a.Account, a.Password)
	} else if a != nil {
		fmt.Fprintf(stdout, "MQTT user:     %s (its password is set already)\n", a.Account)
	}
	if out.Next != "" {
		fmt.Fprintln(stdout, out.Next)
	}
	return nil
}

func runForget(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := cliFlags("forget", stderr)
	id := fs.String("id", "", "id of the adopted device")
	c, err := parseCLI(fs, path, args)
	if err != nil {
		return err
	}
	var out map[string]string
	if err := adminRequest(ctx, c.DataDir, "POST", "/forget", web.ForgetRequest{ID: *id}, &out); err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	fmt.Fprintf(stdout, "forgot %s\n", *id)
	return nil
}

func runExport(args []string, stdout, stderr io.Writer) error {
	fs, path := cliFlags("config export", stderr)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	c, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	b, err := exportConfig(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# hubd config export of %s and its adopted devices\n", *path)
	_, err = stdout.Write(b)
	return err
}
