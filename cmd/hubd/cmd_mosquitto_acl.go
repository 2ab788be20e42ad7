package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"hubd/drivers/mqtt"
)

const mosquittoACLUsage = "usage: hubd mosquitto-acl [-config FILE] [-passwd FILE]"

// runMosquittoACL is `hubd mosquitto-acl`: the embedded broker's device
// accounts and ACLs for an external Mosquitto. It prints an acl_file; with
// -passwd it also writes a password_file (mode 0600) holding the hub's
// account and every device account that has a password (hubd
// mqtt-account create), whose stored hashes are Mosquitto's own form.
func runMosquittoACL(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mosquitto-acl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	passwd := fs.String("passwd", "", "write a Mosquitto password_file here")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(mosquittoACLUsage)
	}
	c, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	if c.MQTT == nil || c.MQTT.Username == "" {
		return errors.New("mosquitto-acl: the config has no mqtt section with the hub's username")
	}
	accts, err := c.mqttAccounts()
	if err != nil {
		return err
	}
	var stored []mqttAccountInfo
	if err := mqttAccountOp(c, "list", nil, &stored); err != nil {
		return err
	}
	hashes := map[string]string{}
	for _, a := range stored {
		hashes[a.Name] = a.Hash
	}
	writeMosquittoACL(stdout, *path, c.MQTT.Username, accts, hashes)
	if *passwd == "" {
		return nil
	}
	return writeMosquittoPasswd(*passwd, c.MQTT.Username, c.MQTT.Password, accts, hashes)
}

// writeMosquittoACL prints the acl_file: the hub's account may do
// anything, each device account what the embedded broker lets it.
func writeMosquittoACL(w io.Writer, from, hubUser string, accts []mqtt.Account, hashes map[string]string) {
	fmt.Fprintf(w, "# Mosquitto acl_file made by `hubd mosquitto-acl` from %s.\n", from)
	fmt.Fprintf(w, "# Each device account may publish its devices' reports and read their\n# commands; only the hub's account publishes commands. Made again when\n# devices change: do not edit.\n\n")
	fmt.Fprintf(w, "user %s\ntopic readwrite #\n", hubUser)
	for _, a := range accts {
		fmt.Fprintf(w, "\n# devices: %s", strings.Join(a.Devices, ", "))
		if hashes[a.Name] == "" {
			fmt.Fprintf(w, " (no password yet: hubd mqtt-account create %s)", a.Name)
		}
		fmt.Fprintf(w, "\nuser %s\n", a.Name)
		for _, r := range a.Rules {
			fmt.Fprintln(w, r.String())
		}
	}
}

// writeMosquittoPasswd writes the password_file, temp file then rename.
func writeMosquittoPasswd(path, hubUser, hubPass string, accts []mqtt.Account, hashes map[string]string) error {
	h, err := hashMQTTPassword(hubPass)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%s\n", hubUser, h)
	for _, a := range accts {
		if hashes[a.Name] != "" {
			fmt.Fprintf(&b, "%s:%s\n", a.Name, hashes[a.Name])
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("mosquitto-acl: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mosquitto-acl: %w", err)
	}
	return nil
}
