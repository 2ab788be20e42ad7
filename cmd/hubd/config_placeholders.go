package main

import (
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// publishedPasswords are passwords that hubd's own README, example config,
// demo or earlier packages print: anyone can read them, so no gateway may
// accept them. Configs that still hold one are refused (check-config says
// so, and `hubd run` does not start).
var publishedPasswords = []string{"change-me", "change-me-mqtt", "demo-pass", "demo-mqtt", "demo-secret"}

// publishedLogins are the published status page passwords, whose hashes
// are checked (each check costs a bcrypt run, ~0.1-0.3 s on a gateway).
var publishedLogins = []string{"change-me", "demo-pass"}

// isPlaceholder says whether a configured secret is a placeholder
// (CHANGE-ME and the like) or one of publishedPasswords.
func isPlaceholder(s string) bool {
	l := strings.ToLower(strings.TrimSpace(s))
	for _, mark := range []string{"change-me", "changeme", "replace-me"} {
		if strings.Contains(l, mark) {
			return true
		}
	}
	for _, p := range publishedPasswords {
		if l == p {
			return true
		}
	}
	return false
}

// publishedHashOf is the published password that the bcrypt hash h is
// the hash of, or "". Answers are remembered: the config is loaded again
// on every reload and adoption, and the same hashes would cost the same
// bcrypt runs each time.
func publishedHashOf(h string) string {
	if !validBcrypt(h) {
		return ""
	}
	publishedMemo.Lock()
	p, ok := publishedMemo.m[h]
	publishedMemo.Unlock()
	if ok {
		return p
	}
	for _, l := range publishedLogins {
		if bcrypt.CompareHashAndPassword([]byte(h), []byte(l)) == nil {
			p = l
			break
		}
	}
	publishedMemo.Lock()
	defer publishedMemo.Unlock()
	if publishedMemo.m == nil || len(publishedMemo.m) >= maxPublishedMemo {
		publishedMemo.m = map[string]string{}
	}
	publishedMemo.m[h] = p
	return p
}

// publishedMemo remembers publishedHashOf's answers, up to
// maxPublishedMemo hashes (a config has a handful of users; a config
// edited in a loop must not grow it without end).
var publishedMemo struct {
	sync.Mutex
	m map[string]string
}

const maxPublishedMemo = 256

// validatePlaceholders refuses the credentials a gateway would otherwise
// run with straight from the package: the MQTT password and the status
// page logins, while they are placeholders or published passwords.
func (c *Config) validatePlaceholders(name string, root *yaml.Node) ConfigErrors {
	var es ConfigErrors
	add := func(line int, format string, args ...any) {
		es = append(es, ConfigError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	if m := c.MQTT; m != nil && m.Password != "" && isPlaceholder(m.Password) {
		add(lineOf(root, "mqtt", "password"), "mqtt.password is a placeholder or a published password: set one of your own (e.g. `head -c 24 /dev/urandom | base64`); hubd does not start until then")
	}
	for i, u := range c.Web.Users {
		line := lineOf(root, "web", "users", i, "password_hash")
		if isPlaceholder(u.PasswordHash) {
			add(line, "web user %q: password_hash is a placeholder: put the hash of a password of your own (`echo 'the password' | hubd hash-password`); hubd does not start until then", u.Name)
		} else if p := publishedHashOf(u.PasswordHash); p != "" {
			add(line, "web user %q: password_hash is the hash of the published password %q: make one of your own with `hubd hash-password`", u.Name, p)
		}
	}
	return es
}
