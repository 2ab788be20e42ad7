// Package web serves the gateway's local status page for field technicians,
// its live feed and JSON snapshot, the device controls behind a login, and
// the operational endpoints /healthz and /metrics.
//
// Everything the page shows comes either from the hub itself or from
// functions passed in Options, so the page never imports another adapter:
// cmd/hubd hands it closures over the serial buses, MQTT connections, the
// Yandex notifier and the Alexa sync. A nil function means the part is not
// configured, and the page says so.
//
// Routes served by Server.Handler:
//
//	GET  /                       the status page (embedded HTML/CSS/JS, no CDN)
//	GET  /assets/...             its static files
//	GET  /events                 server-sent events: a snapshot, then changes
//	                             of the devices on the viewer's page
//	GET  /api/status             the same snapshot as JSON (the first page)
//	GET  /api/devices            one page of the device list, searched and
//	                             filtered (devices.go); ?feed= makes it the
//	                             page that feed follows
//	GET  /api/session            who is signed in, and the CSRF token
//	POST /login, /logout         session cookie handling
//	POST /api/devices/{id}/command   on/off, brightness, identify
//	POST /api/devices/{id}/firmware  start a firmware update (raw image body;
//	                                 ?downgrade=1 to install an older image)
//	POST /api/devices/{id}/firmware/check  what the image is against what the
//	                                 device runs (the confirm step)
//	POST /api/alexa/sync         run an Alexa sync now
//	GET  /healthz                200, or 503 (the reason for a signed-in user)
//	GET  /metrics                Prometheus text format, names hubd_*
//
// Controls need a session (bcrypt-hashed users from the config), a per-session
// CSRF token in the X-CSRF-Token header (or a csrf form field), and a request
// that comes from the page's own origin. Every control is logged with the
// user who ran it.
//
// Before any route but /healthz, Guard refuses a Host header that is not a
// name of the gateway (Options.Hosts, IP literals, localhost on loopback):
// DNS rebinding. X-Forwarded-For and X-Forwarded-Proto count only from
// Options.TrustedProxies. Logins are rate-limited per client address (IPv6
// per /64) and per account; live-feed streams are capped in all and per
// address.
//
// A firmware update runs in the background (minutes on a 115200-baud line):
// the POST answers 202 at once, and the progress and outcome appear as the
// device's firmware_update in /api/status and the feed.
//
// Users have a role (homes.go): a technician runs the controls above; a
// manager also manages residents through Options.Homes:
//
//	GET  /api/homes                 homes, devices, login names (no secret)
//	POST /api/homes/{id}/login      a new resident login, password shown once
//	POST /api/homes/{id}/checkout   end the home's tenancy
//
// Anyone else gets 401 (no session) or 403 (another role).
package web
