package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"hubd/hub"
)

// FirmwareImage is what a firmware image says about itself, as
// Options.InspectFirmware reads it from the image's header.
type FirmwareImage struct {
	Model   string
	Version string // "major.minor.patch"
}

// FirmwareCheck is the confirm step of a firmware update: what the chosen
// image is and what the device runs now. POST
// /api/devices/{id}/firmware/check answers with it and installs nothing.
type FirmwareCheck struct {
	Device      string `json:"device"`
	Name        string `json:"name"`
	DeviceModel string `json:"device_model,omitempty"` // from the device's last identify
	Current     string `json:"current,omitempty"`      // firmware it runs; empty: not known yet
	Model       string `json:"model"`                  // the image's
	Version     string `json:"version"`                // the image's
	// Downgrade: the image is older than Current; installing it needs
	// ?downgrade=1. Same: it is the version running. WrongModel: it is for
	// another model; the device would refuse it.
	Downgrade  bool `json:"downgrade"`
	Same       bool `json:"same"`
	WrongModel bool `json:"wrong_model"`
}

// checkImage compares image with what device id runs now.
func (s *Server) checkImage(id string, image []byte) (FirmwareCheck, error) {
	d, snap, ok := s.h.Snapshot(id)
	if !ok {
		return FirmwareCheck{}, fmt.Errorf("%w: %q", hub.ErrNotFound, id)
	}
	info := snap.Info
	if info.Firmware == "" {
		info = d.Info
	}
	c := FirmwareCheck{Device: id, Name: d.Name, DeviceModel: info.Model, Current: info.Firmware}
	if s.opts.InspectFirmware == nil {
		return c, fmt.Errorf("%w: this gateway can not read firmware images", ErrNotConfigured)
	}
	im, err := s.inspect(image)
	if err != nil {
		return c, err
	}
	c.Model, c.Version = im.Model, im.Version
	c.WrongModel = c.DeviceModel != "" && c.DeviceModel != c.Model
	if cmp, ok := compareVersions(c.Version, c.Current); ok {
		c.Downgrade, c.Same = cmp < 0, cmp == 0
	}
	return c, nil
}

// inspect runs Options.InspectFirmware; a panic or an error is a bad image.
func (s *Server) inspect(image []byte) (im FirmwareImage, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: reading the image header panicked: %v", ErrBadRequest, p)
		}
	}()
	im, err = s.opts.InspectFirmware(image)
	if err != nil {
		return im, fmt.Errorf("%w: not a firmware image: %w", ErrBadRequest, err)
	}
	return im, nil
}

// compareVersions compares dotted numeric versions ("1.2.0"); ok is false
// when either is not one.
func compareVersions(a, b string) (cmp int, ok bool) {
	pa, okA := parseVersion(a)
	pb, okB := parseVersion(b)
	if !okA || !okB {
		return 0, false
	}
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		if x != y {
			if x < y {
				return -1, true
			}
			return 1, true
		}
	}
	return 0, true
}

func parseVersion(v string) ([]int, bool) {
	if v == "" || len(v) > 32 {
		return nil, false
	}
	var out []int
	for p := range strings.SplitSeq(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// firmwareTarget authorizes a firmware request for the device in the path
// and returns the user and the device.
func (s *Server) firmwareTarget(r *http.Request) (string, hub.Device, error) {
	if !s.fw.enabled() {
		return "", hub.Device{}, fmt.Errorf("%w: firmware updates are not enabled on this gateway", hub.ErrNotFound)
	}
	user, _, err := s.control(r)
	if err != nil {
		return "", hub.Device{}, err
	}
	id := r.PathValue("id")
	d, ok := s.h.Device(id)
	if !ok {
		return "", hub.Device{}, fmt.Errorf("%w: %q", hub.ErrNotFound, id)
	}
	if !s.fw.capable(d) {
		return "", hub.Device{}, fmt.Errorf("%w: %s: firmware can not be updated from this page", hub.ErrNotSupported, id)
	}
	return user, d, nil
}

// serveFirmwareCheck is the confirm step: it reads the image and says what
// it would install, without installing it.
func (s *Server) serveFirmwareCheck(w http.ResponseWriter, r *http.Request) {
	_, d, err := s.firmwareTarget(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	image, err := readImage(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.checkImage(d.ID, image)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// allowInstall refuses an image older than the device's firmware unless
// the technician asked for a downgrade, and logs a forced one. The driver
// checks again against what the device says when the update starts; this
// is the early, explained refusal.
func (s *Server) allowInstall(user, id string, image []byte, downgrade bool) error {
	if s.opts.InspectFirmware == nil {
		return nil
	}
	c, err := s.checkImage(id, image)
	if err != nil {
		return err
	}
	if !c.Downgrade {
		return nil
	}
	if !downgrade {
		return fmt.Errorf("%w: image %s %s, %s runs %s; confirm the downgrade to install it", ErrDowngrade, c.Model, c.Version, id, c.Current)
	}
	s.log.Warn("web: firmware downgrade forced", "user", user, "device", id, "from", c.Current, "to", c.Version)
	s.h.Log("warn", "web", id, fmt.Sprintf("%s: firmware downgrade %s -> %s forced by %s", id, c.Current, c.Version, user))
	return nil
}
