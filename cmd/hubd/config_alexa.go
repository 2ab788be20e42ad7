package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"

	"gopkg.in/yaml.v3"

	"hubd/hub/alexa"
)

// validateAlexa checks what the Alexa API would refuse later: the skill
// stage, the endpoint URLs, a rate limit that is no number, a site too deep for the configured parent,
// residential common areas, and a missing subscription skill. Without
// parent_level (configs older than the key) parent_id may be the
// organization or a property: what depends on which is a warning in
// c.Warnings, not an error, since the sync reads the real level.
func (c *Config) validateAlexa(name string, root *yaml.Node, add func(int, string, ...any)) {
	warn := func(line int, format string, args ...any) {
		c.Warnings = append(c.Warnings, ConfigError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	a := c.Alexa
	switch strings.ToLower(a.SkillStage) {
	case "", "live", "development":
	default:
		add(lineOf(root, "alexa", "skill_stage"), "alexa.skill_stage %q is not live or development", a.SkillStage)
	}
	for _, u := range []struct{ key, val string }{{"api_url", a.APIURL}, {"token_url", a.TokenURL}} {
		if err := alexa.CheckURL(u.key, u.val); u.val != "" && err != nil {
			add(lineOf(root, "alexa", u.key), "alexa.%s %q is not an absolute http(s) URL with a host", u.key, u.val)
		}
	}
	if math.IsNaN(a.CallsPerSecond) || math.IsInf(a.CallsPerSecond, 0) {
		add(lineOf(root, "alexa", "calls_per_second"), "alexa.calls_per_second %v is not a number of calls a second", a.CallsPerSecond)
	}
	level, explicit := 0, a.ParentLevel != nil
	if explicit {
		level = *a.ParentLevel
	}
	if level < 0 || level >= alexa.MaxLevel {
		add(lineOf(root, "alexa", "parent_level"), "alexa.parent_level %d is not 0 (organization) .. %d", level, alexa.MaxLevel-1)
		return
	}
	site := c.HubSite()
	if err := alexa.CheckSite(site, a.Residential, level); err != nil {
		switch {
		case errors.Is(err, alexa.ErrSiteTooDeep):
			add(lineOf(root, "alexa", "parent_id"), "the site does not fit under alexa.parent_id (level %d): %v", level, err)
		default:
			add(lineOf(root, "alexa", "residential"), "%v", err)
		}
	} else if err := alexa.CheckSite(site, a.Residential, 1); !explicit && err != nil {
		warn(lineOf(root, "alexa", "parent_id"), "the site fits under an organization but not under a property: %v; "+
			"if alexa.parent_id is a property, the sync will refuse it (set alexa.parent_level to say which it is)", err)
	}
	if level != 0 || a.SubscriptionSkillID != "" || !alexa.NeedsSubscriptionSkill(site, a.Residential) {
		return
	}
	if explicit {
		add(lineOf(root, "alexa"), "alexa.subscription_skill_id is required: parent_id is the organization (parent_level 0), "+
			"so each building is a property unit, and Alexa creates no units under a property until a subscription skill is enabled on it "+
			"(or set parent_level: 1 if parent_id is a property)")
		return
	}
	warn(lineOf(root, "alexa"), "alexa.parent_level is not set: if alexa.parent_id is a property, set parent_level: 1; "+
		"if it is the organization, set parent_level: 0 and alexa.subscription_skill_id, since Alexa creates no units under "+
		"a property (each building) until a subscription skill is enabled on it")
}

// logWarnings logs what validation let pass but an operator should see
// (c.Warnings), at start and on reload.
func (c *Config) logWarnings(log *slog.Logger) {
	for _, w := range c.Warnings {
		log.Warn("config: " + w.Error())
	}
}
