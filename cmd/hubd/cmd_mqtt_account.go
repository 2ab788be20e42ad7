package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"hubd/store"
)

const mqttAccountUsage = `usage: hubd mqtt-account create|rotate|delete DEVICE|ACCOUNT [-config FILE]
       hubd mqtt-account list [-config FILE]`

// runMQTTAccount is `hubd mqtt-account`: the embedded broker's device
// accounts. A running daemon is asked over its admin socket, and takes
// the change at once; with none running, the store is changed directly.
func runMQTTAccount(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(mqttAccountUsage)
	}
	op, args := args[0], args[1:]
	fs := flag.NewFlagSet("mqtt-account "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return usageError(err.Error())
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	want := 1
	switch op {
	case "list":
		want = 0
	case "create", "rotate", "delete":
	default:
		return usageError(mqttAccountUsage)
	}
	if len(pos) != want {
		return usageError(mqttAccountUsage)
	}
	c, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	if c.MQTT == nil {
		return errors.New("mqtt-account: the config has no mqtt section")
	}
	var res any
	if op == "list" {
		res = &[]mqttAccountInfo{}
	} else {
		res = &mqttAccountInfo{}
	}
	if err := mqttAccountOp(c, op, pos, res); err != nil {
		return err
	}
	printMQTTAccount(stdout, op, res)
	return nil
}

// mqttAccountOp runs op through the daemon, or on the store when no
// daemon runs.
func mqttAccountOp(c *Config, op string, pos []string, res any) error {
	err := askDaemon(c.DataDir, op, pos, res)
	if errors.Is(err, errNoDaemon) {
		err = mqttAccountDirect(c, op, pos, res)
	}
	return err
}

// errNoDaemon is returned by askDaemon when no daemon answers on the
// admin socket.
var errNoDaemon = errors.New("hubd: no daemon on the admin socket")

// askDaemon runs op over the admin socket and decodes the answer into res.
func askDaemon(dataDir, op string, pos []string, res any) error {
	method, u := http.MethodGet, "/mqtt-accounts"
	switch op {
	case "create", "rotate":
		method, u = http.MethodPost, u+"/"+url.PathEscape(pos[0])+"/"+op
	case "delete":
		method, u = http.MethodDelete, u+"/"+url.PathEscape(pos[0])
	}
	body, err := adminCall(adminSocketPath(dataDir), method, u)
	if err != nil {
		if errors.Is(err, errNoDaemon) {
			return errNoDaemon
		}
		return fmt.Errorf("mqtt-account: %w", err)
	}
	return json.Unmarshal(body, res)
}

// mqttAccountDirect runs op on the store itself, the daemon being stopped.
func mqttAccountDirect(c *Config, op string, pos []string, res any) error {
	db, err := store.Open(filepath.Join(c.DataDir, "hubd.db"), store.Options{})
	if err != nil {
		return fmt.Errorf("mqtt-account: no daemon answers on %s, and the store: %w", adminSocketPath(c.DataDir), err)
	}
	defer db.Close()
	creds, _, _, err := loadMQTTCredentials(db.Bucket(mqttAccountsBucket), nil)
	if err != nil {
		return err
	}
	a := accountAdmin{creds: creds, accounts: c.mqttAccounts}
	var name string
	if len(pos) > 0 {
		name = pos[0]
	}
	switch op {
	case "list":
		*res.(*[]mqttAccountInfo), err = a.list()
	case "delete":
		*res.(*mqttAccountInfo), err = a.remove(name)
	default:
		*res.(*mqttAccountInfo), err = a.setPassword(name, op == "rotate")
	}
	return err
}

func printMQTTAccount(w io.Writer, op string, res any) {
	switch op {
	case "list":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tDEVICES\tPASSWORD\tCHANGED")
		for _, a := range *res.(*[]mqttAccountInfo) {
			devs, pw, changed := strings.Join(a.Devices, ","), "none", "-"
			if devs == "" {
				devs = "(no device uses it)"
			}
			if a.HasPass {
				pw, changed = "set", a.Changed.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, devs, pw, changed)
		}
		tw.Flush()
	case "delete":
		fmt.Fprintf(w, "MQTT account %s: password deleted; its devices can no longer log in.\n", res.(*mqttAccountInfo).Name)
	default:
		a := res.(*mqttAccountInfo)
		fmt.Fprintf(w, "MQTT account %s (devices: %s)\n", a.Name, strings.Join(a.Devices, ", "))
		fmt.Fprintf(w, "  user:     %s\n  password: %s\n", a.Name, a.Password)
		fmt.Fprintln(w, "The password is shown this once; set user and password on the device(s).")
		fmt.Fprintf(w, "For an external Mosquitto, its password_file line:\n%s:%s\n", a.Name, a.Hash)
	}
}
