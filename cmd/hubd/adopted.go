package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Adopted devices live in a file hubd manages, adopted.yaml in the data
// directory (writable by the service, unlike /etc/hubd): devices a
// technician adopted from discovery, each with its room. Every command
// that reads the config (run, check-config, config export, a reload)
// reads this file too and merges it in; `hubd config export` prints the
// merged result as one configuration to keep in version control.
const adoptedFile = "adopted.yaml"

// maxAdopted bounds the devices in the adopted file.
const maxAdopted = 4096

// AdoptedDevice is one entry of the adopted file: a device entry as in the
// config, plus the site node it sits in.
type AdoptedDevice struct {
	DeviceConfig `yaml:",inline"`
	Room         string `yaml:"room"`
}

type adoptedDoc struct {
	Devices []AdoptedDevice `yaml:"devices"`
}

func adoptedPath(dataDir string) string { return filepath.Join(dataDir, adoptedFile) }

// readAdopted reads the adopted file of dataDir; a missing file is an
// empty list.
func readAdopted(dataDir string) ([]AdoptedDevice, error) {
	path := adoptedPath(dataDir)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, ConfigErrors{{File: path, Msg: fmt.Sprintf("file is larger than %d bytes", maxConfigSize)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc adoptedDoc
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, ConfigErrors{yamlError(path, err)}
	}
	if len(doc.Devices) > maxAdopted {
		return nil, ConfigErrors{{File: path, Msg: fmt.Sprintf("%d devices, at most %d", len(doc.Devices), maxAdopted)}}
	}
	return doc.Devices, nil
}

// writeAdopted replaces the adopted file: temp file, fsync, rename, so a
// power cut leaves the old list or the new one.
func writeAdopted(dataDir string, devs []AdoptedDevice) error {
	b, err := yaml.Marshal(adoptedDoc{Devices: devs})
	if err != nil {
		return err
	}
	b = append([]byte("# Managed by hubd: devices adopted from discovery (hubd adopt, hubd forget,\n# the status page). `hubd config export` merges them into one config.\n"), b...)
	path := adoptedPath(dataDir)
	tmp, err := os.CreateTemp(dataDir, adoptedFile+".*")
	if err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if d, err := os.Open(dataDir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// withAdopted returns base with the adopted devices merged in, checked as
// one configuration; base itself is not changed. With none it is base.
func withAdopted(base *Config, ad []AdoptedDevice) (*Config, error) {
	if len(ad) == 0 {
		return base, nil
	}
	y, err := mergedYAML(base, ad)
	if err != nil {
		return nil, err
	}
	return parseConfig("effective configuration (config file + "+adoptedPath(base.DataDir)+")", y, base.published)
}

// mergedYAML prints base with ad added: each device in the devices list
// and in its room's device list.
func mergedYAML(base *Config, ad []AdoptedDevice) ([]byte, error) {
	b, err := yaml.Marshal(base)
	if err != nil {
		return nil, fmt.Errorf("config: export: %w", err)
	}
	var c Config // a deep copy to add to
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("config: export: %w", err)
	}
	known := map[string]DeviceConfig{}
	for _, d := range c.Devices {
		known[d.ID] = d
	}
	for _, a := range ad {
		if d, ok := known[a.ID]; ok && sameDevice(d, a.DeviceConfig) {
			// The config file took it over (an export put in place):
			// the file's entry is the one in force.
			continue
		}
		n := findNode(c.Site, a.Room)
		if n == nil {
			return nil, ConfigErrors{{File: adoptedPath(base.DataDir), Msg: fmt.Sprintf("device %q: room %q is not in the site", a.ID, a.Room)}}
		}
		c.Devices = append(c.Devices, a.DeviceConfig)
		n.Devices = append(n.Devices, a.ID)
	}
	return yaml.Marshal(&c)
}

// sameDevice reports whether two entries name the same device at the same
// place.
func sameDevice(a, b DeviceConfig) bool {
	return a.ID == b.ID && a.Driver == b.Driver && a.Bus == b.Bus && a.Address == b.Address && a.Topic == b.Topic &&
		a.Channel == b.Channel && a.Component == b.Component
}

func findNode(ns []*NodeConfig, id string) *NodeConfig {
	for _, n := range ns {
		if n == nil {
			continue
		}
		if n.ID == id {
			return n
		}
		if f := findNode(n.Children, id); f != nil {
			return f
		}
	}
	return nil
}

// LoadConfig reads and validates a config file and merges in the devices
// adopted into its data directory.
func LoadConfig(path string) (*Config, error) {
	c, err := loadConfigFile(path)
	if err != nil {
		return nil, err
	}
	ad, err := readAdopted(c.DataDir)
	if err != nil {
		return nil, err
	}
	return withAdopted(c, ad)
}

// exportConfig prints an effective configuration as YAML that
// check-config accepts.
func exportConfig(c *Config) ([]byte, error) {
	return mergedYAML(c, nil)
}
