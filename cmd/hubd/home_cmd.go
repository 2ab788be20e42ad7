package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"hubd/hub"
)

const homeUsage = `usage:
  hubd home list [-config FILE | -data DIR]             homes, their devices and resident logins (never a password)
  hubd home set-login HOME [-config FILE | -data DIR]   give HOME a new resident login for account linking (shown once)
  hubd home checkout HOME [-config FILE | -data DIR]    end HOME's tenancy: revoke its tokens, rotate its login, tell Yandex
hubd home talks to the running daemon through DATA_DIR/admin.sock (root or the daemon's user);
DATA_DIR is the config's data_dir, or -data (e.g. the demo's state directory).`

// runHome is `hubd home ...`.
func runHome(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(homeUsage)
	}
	sub, rest := args[0], args[1:]
	var home string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		home, rest = rest[0], rest[1:]
	}
	fs := flag.NewFlagSet("home "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	dataDir := fs.String("data", "", "the daemon's data directory (instead of reading -config)")
	if err := fs.Parse(rest); err != nil {
		return usageError(err.Error())
	}
	if home == "" && fs.NArg() > 0 {
		home = fs.Arg(0)
	}
	method, url := "", ""
	switch {
	case sub == "list" && home == "":
		method, url = http.MethodGet, "/homes"
	case (sub == "set-login" || sub == "checkout") && home != "":
		method, url = http.MethodPost, "/homes/"+home+"/"+strings.TrimPrefix(sub, "set-")
	default:
		return usageError(homeUsage)
	}
	if *dataDir == "" {
		c, err := LoadConfig(*path)
		if err != nil {
			return err
		}
		*dataDir = c.DataDir
	}
	body, err := adminCall(adminSocketPath(*dataDir), method, url)
	if err != nil {
		return err
	}
	return printHome(stdout, sub, body)
}

func printHome(w io.Writer, sub string, body []byte) error {
	if sub == "list" {
		var homes []hub.HomeStatus
		if err := json.Unmarshal(body, &homes); err != nil {
			return fmt.Errorf("home: %w", err)
		}
		for _, h := range homes {
			login := "no resident login"
			if h.Login != "" {
				login = fmt.Sprintf("login %s (set %s by %s)", h.Login, h.LoginSetAt.Format(time.RFC3339), h.LoginSetBy)
			}
			fmt.Fprintf(w, "%s\t%s\t[%s]\t%s\n", h.ID, h.Name, strings.Join(h.Devices, ", "), login)
		}
		return nil
	}
	var cr hub.HomeCredentials
	if err := json.Unmarshal(body, &cr); err != nil {
		return fmt.Errorf("home: %w", err)
	}
	if sub == "checkout" {
		fmt.Fprintf(w, "%s checked out: tokens of %d accounts revoked (%s); Yandex is told to drop the devices.\n",
			cr.Home, len(cr.Revoked), strings.Join(cr.Revoked, ", "))
	}
	fmt.Fprintf(w, "New resident login of %s for account linking (shown only now, stored hashed):\n  login:    %s\n  password: %s\n", cr.Home, cr.Login, cr.Password)
	return nil
}
