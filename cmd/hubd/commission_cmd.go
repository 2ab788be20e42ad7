package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"hubd/hub/web"
)

// runCommission opens, closes or shows the embedded broker's
// commissioning window on the running daemon.
func runCommission(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := cliFlags("commission", stderr)
	forD := fs.Duration("for", 0, "open the window this long (default 30m, at most mqtt.limits.max_commissioning)")
	closeW := fs.Bool("close", false, "close the window now")
	show := fs.Bool("status", false, "show the window, change nothing")
	c, err := parseCLI(fs, path, args)
	if err != nil {
		return err
	}
	var st web.Commissioning
	switch {
	case *show:
		err = adminRequest(ctx, c.DataDir, "GET", "/commissioning", nil, &st)
	case *closeW:
		err = adminRequest(ctx, c.DataDir, "DELETE", "/commissioning", nil, &st)
	default:
		req := CommissionRequest{}
		if *forD != 0 {
			req.For = forD.String()
		}
		err = adminRequest(ctx, c.DataDir, "POST", "/commissioning", req, &st)
	}
	if err != nil {
		return fmt.Errorf("commission: %w", err)
	}
	printCommissioning(stdout, st)
	return nil
}

func printCommissioning(w io.Writer, st web.Commissioning) {
	if !st.Open {
		fmt.Fprint(w, "commissioning window: closed")
		if st.Clients > 0 {
			fmt.Fprintf(w, " (%d clients still in, being disconnected)", st.Clients)
		}
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "commissioning window: open until %s (%s left), %d of %d clients in\n",
		st.Until.Local().Format("15:04:05"), time.Until(st.Until).Round(time.Second), st.Clients, st.MaxClients)
	if st.Password == "" {
		return
	}
	fmt.Fprintf(w, "user:     %s\npassword: %s\nports:    %s\n", st.User, st.Password, strings.Join(st.Ports, ", "))
	fmt.Fprintln(w, "Give new devices this login and the gateway's address: they show in `hubd discover` once they announce themselves.")
	fmt.Fprintln(w, "The password is shown this once; the window closes by itself, or with `hubd commission -close`.")
}
