// Package systemd holds the files hubd installs into the service manager:
// the hardened unit (embedded here so that `hubd install` writes the same
// text the Debian package ships) and, beside it, the example configuration
// and the packaging scripts under deb/.
package systemd

import _ "embed"

// Unit is the text of hubd.service, the unit both `hubd install` and the
// Debian package install.
//
//go:embed hubd.service
var Unit string
