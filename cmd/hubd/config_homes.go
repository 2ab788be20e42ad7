package main

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"hubd/hub"
	"hubd/hub/yandex"
)

// Web roles. A technician runs controls on the status page; a manager may
// also give homes their residents' logins and check homes out. The
// default is the least: technician.
const (
	roleTechnician = "technician"
	roleManager    = "manager"
)

// validateTenancy checks the keys of tenancy: every yandex user has
// exactly one of homes and staff, homes name site nodes of kind home, and
// web roles are known.
func (c *Config) validateTenancy(name string, root *yaml.Node) ConfigErrors {
	var es ConfigErrors
	add := func(line int, format string, args ...any) {
		es = append(es, ConfigError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	site := c.HubSite()
	for i, u := range c.Yandex.Users {
		switch {
		case u.Staff && len(u.Homes) > 0:
			add(lineOf(root, "yandex", "users", i, "staff"), "yandex user %q has both homes and staff: true; give exactly one", u.ID)
		case !u.Staff && len(u.Homes) == 0:
			add(lineOf(root, "yandex", "users", i), "yandex user %q needs homes: [<home node id>, ...] or staff: true (no user sees everything by default)", u.ID)
		}
		seen := map[string]bool{}
		for j, h := range u.Homes {
			l := lineOf(root, "yandex", "users", i, "homes", j)
			if seen[h] {
				add(l, "yandex user %q lists home %q twice", u.ID, h)
			}
			seen[h] = true
			if err := site.CheckScope(hub.Scope{Homes: []string{h}}); err != nil {
				add(l, "yandex user %q: home %q is not a site node of kind home", u.ID, h)
			}
		}
	}
	for i, u := range c.Web.Users {
		switch u.Role {
		case "", roleTechnician, roleManager:
		default:
			add(lineOf(root, "web", "users", i, "role"), "web user %q: role %q is not technician or manager", u.Name, u.Role)
		}
	}
	return es
}

// scopeOf is the scope a configured yandex user is given.
func scopeOf(u YandexUser) hub.Scope {
	return hub.Scope{Staff: u.Staff, Homes: append([]string(nil), u.Homes...)}
}

// notifyRecipients is who the notifier writes to: every linked user, each
// with its own devices, or only the user yandex.notify.user_id names.
func notifyRecipients(api *yandex.Handler, only string) func() []yandex.Recipient {
	return func() []yandex.Recipient {
		all := api.Recipients()
		if only == "" {
			return all
		}
		for _, r := range all {
			if r.UserID == only {
				return []yandex.Recipient{r}
			}
		}
		return nil
	}
}
