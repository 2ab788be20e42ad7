package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hubd/firmware"
)

func TestRunFirmwareImage_BuildsImagesDevicesAccept(t *testing.T) {
	dir := t.TempDir()
	payload := filepath.Join(dir, "fw.bin")
	if err := os.WriteFile(payload, []byte("new lamp firmware"), 0o644); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "vendor.key")
	if err := runFirmwareImage([]string{"-gen-key", keyFile}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	kb, _ := os.ReadFile(keyFile)
	key, err := firmware.ParsePrivateKey(kb)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		pub   ed25519.PublicKey
		crash bool
	}{
		{"demo key", []string{"-demo-key"}, firmware.DemoVendorPublicKey(), false},
		{"key file", []string{"-key", keyFile}, key.Public().(ed25519.PublicKey), false},
		{"crash", []string{"-demo-key", "-crash"}, firmware.DemoVendorPublicKey(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".img")
			args := append([]string{"-model", "HL-100", "-version", "1.3.0", "-payload", payload, "-out", out}, tc.args...)
			if err := runFirmwareImage(args); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			im, err := firmware.ParseImage(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := im.Verify(tc.pub); err != nil {
				t.Errorf("signature: %v", err)
			}
			if im.Model != "HL-100" || im.VersionString() != "1.3.0" || !bytes.HasSuffix(im.Payload, []byte("new lamp firmware")) {
				t.Errorf("image %+v", im)
			}
			if bytes.HasPrefix(im.Payload, firmware.CrashMarker) != tc.crash {
				t.Errorf("crash marker present = %v", !tc.crash)
			}
		})
	}
}

func TestBuildImage_RejectsBadFlags(t *testing.T) {
	dir := t.TempDir()
	payload := filepath.Join(dir, "fw.bin")
	os.WriteFile(payload, []byte("x"), 0o644)
	badKey := filepath.Join(dir, "bad.key")
	os.WriteFile(badKey, []byte("not a key"), 0o600)
	big := filepath.Join(dir, "big.bin")
	os.WriteFile(big, make([]byte, firmware.MaxImagePayload+1), 0o644)
	tests := []struct {
		name                string
		model, version, key string
		demo                bool
		payload             string
		want                error
	}{
		{"no model", "", "1.0.0", "", true, payload, nil},
		{"bad version", "HL-100", "1.0", "", true, payload, firmware.ErrImageField},
		{"no key", "HL-100", "1.0.0", "", false, payload, nil},
		{"both keys", "HL-100", "1.0.0", badKey, true, payload, nil},
		{"bad key", "HL-100", "1.0.0", badKey, false, payload, firmware.ErrBadKey},
		{"missing payload", "HL-100", "1.0.0", "", true, filepath.Join(dir, "nope"), os.ErrNotExist},
		{"oversize payload", "HL-100", "1.0.0", "", true, big, firmware.ErrImageTooLarge},
		{"long model", strings.Repeat("m", 30), "1.0.0", "", true, payload, firmware.ErrImageField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := buildImage(tc.model, tc.version, tc.key, tc.demo, tc.payload, false, nil)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// stdin as the payload.
	img, _, err := buildImage("HL-100", "1.0.1", "", true, "-", false, strings.NewReader("from stdin"))
	if err != nil {
		t.Fatal(err)
	}
	if im, err := firmware.ParseImage(img); err != nil || string(im.Payload) != "from stdin" {
		t.Errorf("stdin payload: %q %v", im.Payload, err)
	}
}
