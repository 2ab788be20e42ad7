package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"hubd/hub/alexa"
	"hubd/store"
)

// defaultRedirect is where Login with Amazon sends the browser after
// consent. Nothing needs to listen there: the operator copies the address
// (or just its code) from the browser. It must be one of the security
// profile's allowed return URLs.
const defaultRedirect = "https://localhost/"

// runAlexaLogin is `hubd alexa login`: Login with Amazon's authorization
// code flow for a refresh token with scope alexa::enterprise:management
// (REFERENCE.md section 2). It prints the consent URL, reads the code (or
// the whole redirected address) from stdin, exchanges it and stores the
// refresh token in the state file, which the daemon then uses. The token is
// never printed or logged. The daemon must be stopped (the store is locked).
func runAlexaLogin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("alexa login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	redirect := fs.String("redirect", defaultRedirect, "return URL registered in the Login with Amazon security profile")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("hubd alexa login: unexpected argument %q", fs.Arg(0)))
	}
	c, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	if c.Alexa == nil {
		return errors.New("the config has no alexa section")
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	state := hex.EncodeToString(b)
	fmt.Fprintf(stdout, "Open this address, log in as the organization's administrator and allow access:\n\n  %s\n\n",
		alexa.AuthorizeURL("", c.Alexa.ClientID, *redirect, state))
	fmt.Fprintf(stdout, "The browser then goes to %s...?code=...&state=%s; a whole address is taken only with that state.\n"+
		"Or type just the code, taken as it is, if you are sure it comes from the address above. Paste the address (or the code) here:\n",
		*redirect, state)
	code, err := readCode(stdin, state)
	if err != nil {
		return err
	}
	dbPath := filepath.Join(c.DataDir, "hubd.db")
	db, err := store.Open(dbPath, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	m := &Main{Config: c, DB: db, Log: newLogger(stderr, c.Log.Level, c.Log.Format)}
	client, err := alexa.NewClient(alexaOptions(c.Alexa, m))
	if err != nil {
		return err
	}
	if err := client.Tokens().Login(ctx, code, *redirect); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "logged in: the refresh token is stored in %s and used from now on\n", dbPath)
	return nil
}

// readCode reads one line: an authorization code, or the redirected
// address carrying it in its "code" parameter and, to show it answers this
// login's consent and not one someone else started, state in its "state"
// parameter. A bare code can not carry the state and is taken as it is.
func readCode(stdin io.Reader, state string) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("hubd alexa login: no code read: %w", err)
	}
	line = strings.TrimSpace(line)
	if u, err := url.Parse(line); err == nil && u.Query().Get("code") != "" {
		if got := u.Query().Get("state"); subtle.ConstantTimeCompare([]byte(got), []byte(state)) != 1 {
			return "", fmt.Errorf("hubd alexa login: the address's state %.40q is not this login's %q: it answers another consent; "+
				"open this login's address, or paste just the code", got, state)
		}
		return u.Query().Get("code"), nil
	}
	if line == "" || strings.ContainsAny(line, " /?&=") {
		return "", errors.New("hubd alexa login: that is neither a code nor an address with ?code=")
	}
	return line, nil
}
