package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleWithDataDir is the packaged example config with its data
// directory moved to a temp dir.
func exampleWithDataDir(t *testing.T) (string, string) {
	t.Helper()
	raw, err := os.ReadFile("../../systemd/hubd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(withOwnSecrets(t, string(raw)))
	dir := t.TempDir()
	c, err := ParseConfig("hubd.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "data_dir: "+c.DataDir, "data_dir: "+dir, 1)
	if !strings.Contains(s, dir) {
		s += "\ndata_dir: " + dir + "\n"
	}
	path := filepath.Join(dir, "hubd.yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

func TestConfigExport_RoundTripsThroughCheckConfig(t *testing.T) {
	path, dir := exampleWithDataDir(t)
	base, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	room := firstRoom(base.Site)
	ad := []AdoptedDevice{{DeviceConfig: DeviceConfig{ID: "adopted-plug", Name: "New plug", Kind: "socket", Driver: "shelly", Topic: "shellyplug-s-NEW", Capabilities: []string{"on", "power"}}, Room: room}}
	if err := writeAdopted(dir, ad); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Devices) != len(base.Devices)+1 {
		t.Fatalf("%d devices after adoption, want %d", len(c.Devices), len(base.Devices)+1)
	}
	out, err := exportConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	// The export is a config of its own: it parses, holds the adopted
	// device in its room, and exports to the same text again.
	again, err := ParseConfig("export.yaml", out)
	if err != nil {
		t.Fatalf("export refused by check-config: %v\n%s", err, out)
	}
	if n := findNode(again.Site, room); n == nil || n.Devices[len(n.Devices)-1] != "adopted-plug" {
		t.Fatalf("adopted device not in room %s", room)
	}
	out2, err := exportConfig(again)
	if err != nil || string(out2) != string(out) {
		t.Fatalf("export is not stable: %v\n%s\n---\n%s", err, out, out2)
	}
}

func firstRoom(ns []*NodeConfig) string {
	for _, n := range ns {
		if n == nil {
			continue
		}
		if n.Kind == "room" {
			return n.ID
		}
		if r := firstRoom(n.Children); r != "" {
			return r
		}
	}
	return ""
}

func TestLoadConfig_RefusesAdoptedFileWithUnknownRoomOrClash(t *testing.T) {
	path, dir := exampleWithDataDir(t)
	base, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, ad := range map[string]AdoptedDevice{
		"no such room": {DeviceConfig: DeviceConfig{ID: "x1", Kind: "socket", Driver: "shelly", Topic: "s1"}, Room: "nowhere"},
		"used twice":   {DeviceConfig: DeviceConfig{ID: base.Devices[0].ID, Kind: "socket", Driver: "shelly", Topic: "s2"}, Room: firstRoom(base.Site)},
		"wildcard":     {DeviceConfig: DeviceConfig{ID: "x3", Kind: "socket", Driver: "tasmota", Topic: "a#"}, Room: firstRoom(base.Site)},
	} {
		if err := writeAdopted(dir, []AdoptedDevice{ad}); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	os.WriteFile(adoptedPath(dir), []byte("devices: [[[\n"), 0o600)
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), adoptedFile) {
		t.Fatalf("garbage adopted file: %v", err)
	}
}
