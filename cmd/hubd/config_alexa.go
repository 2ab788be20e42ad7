package main

import (
	"errors"
	"strings"

	"gopkg.in/yaml.v3"

	"hubd/hub/alexa"
)

// validateAlexa checks what the Alexa API would refuse later: the skill
// stage, a site too deep for the configured parent, residential common
// areas, and a missing subscription skill.
func (c *Config) validateAlexa(root *yaml.Node, add func(int, string, ...any)) {
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
	if a.ParentLevel < 0 || a.ParentLevel >= alexa.MaxLevel {
		add(lineOf(root, "alexa", "parent_level"), "alexa.parent_level %d is not 0 (organization) .. %d", a.ParentLevel, alexa.MaxLevel-1)
		return
	}
	site := c.HubSite()
	if err := alexa.CheckSite(site, a.Residential, a.ParentLevel); err != nil {
		switch {
		case errors.Is(err, alexa.ErrSiteTooDeep):
			add(lineOf(root, "alexa", "parent_id"), "the site does not fit under alexa.parent_id (level %d): %v", a.ParentLevel, err)
		default:
			add(lineOf(root, "alexa", "residential"), "%v", err)
		}
	}
	if a.ParentLevel == 0 && a.SubscriptionSkillID == "" && alexa.NeedsSubscriptionSkill(site, a.Residential) {
		add(lineOf(root, "alexa"), "alexa.subscription_skill_id is required: parent_id is the organization (parent_level 0), "+
			"so each building is a property unit, and Alexa creates no units under a property until a subscription skill is enabled on it "+
			"(or set parent_level: 1 if parent_id is a property)")
	}
}
