package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"hubd/firmware"
)

// A technician signs in on the status page of the demo and installs a new
// firmware image on the serial lamp; the lamp comes back with the new
// version, which the Yandex device list then shows.
func TestDemo_FirmwareUpdate_FromTheStatusPage(t *testing.T) {
	addr, _, h := startDemo(t, DemoOptions{})
	base := "http://" + addr
	eventually(t, 10*time.Second, "lamp-1 identified", func() bool {
		_, ok := query(t, addr, "lamp-1")["lamp-1"].value("on")
		return ok
	})
	image, err := firmware.BuildImage("HL-1 demo lamp", [3]uint8{1, 3, 0}, bytes.Repeat([]byte("lamp firmware "), 500), firmware.DemoVendorKey())
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	post := func(path, ctype string, body []byte, csrf string) (int, []byte) {
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Origin", base)
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	// Not signed in: refused, nothing reaches the lamp.
	if code, _ := post("/api/devices/lamp-1/firmware", "application/octet-stream", image, ""); code != http.StatusUnauthorized {
		t.Fatalf("upload without login: %d", code)
	}
	code, data := post("/login", "application/json", []byte(`{"user":"tech","password":"demo-pass"}`), "")
	if code != 200 {
		t.Fatalf("login: %d %s", code, data)
	}
	var sess struct {
		CSRF string `json:"csrf"`
	}
	json.Unmarshal(data, &sess)
	if code, data := post("/api/devices/lamp-1/firmware", "application/octet-stream", image, sess.CSRF); code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", code, data)
	}
	eventually(t, 60*time.Second, "lamp-1 reports firmware 1.3.0 in the device list", func() bool {
		req, _ := httpNewRequest("GET", base+"/v1.0/user/devices", demoToken)
		resp, err := e2eClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		i := strings.Index(string(body), `"id":"lamp-1"`)
		return i >= 0 && strings.Contains(string(body[i:min(len(body), i+4000)]), `"sw_version":"1.3.0"`)
	})
	lamp := h.Bus().Device(1).(*firmware.Lamp)
	if v := lamp.FirmwareVersion(); v != [3]uint8{1, 3, 0} {
		t.Fatalf("the emulated lamp runs %v", v)
	}
}
