package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// testInspect reads this package's test images: "IMG <model> <version>"
// then anything. The real reader is firmware.ParseImage, wired in the
// daemon.
func testInspect(image []byte) (FirmwareImage, error) {
	var im FirmwareImage
	if _, err := fmt.Sscanf(string(image), "IMG %s %s", &im.Model, &im.Version); err != nil {
		return im, errors.New("firmware: bad magic")
	}
	return im, nil
}

func fwImage(model, version string) []byte {
	return append([]byte("IMG "+model+" "+version+"\n"), testImage(500)...)
}

func inspectServer(t *testing.T) (*testServer, *browser, *fakeUpdater, *syncBuffer) {
	t.Helper()
	fake := newFakeUpdater(1000, false)
	logs := &syncBuffer{}
	ts, b := firmwareServer(t, fake, Options{InspectFirmware: testInspect, Coalesce: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	return ts, b, fake, logs
}

func (b *browser) checkImage(id string, image []byte) (*http.Response, FirmwareCheck) {
	b.t.Helper()
	resp, body := b.do("POST", "/api/devices/"+id+"/firmware/check", string(image), map[string]string{"Content-Type": "application/octet-stream"})
	var c FirmwareCheck
	if resp.StatusCode == http.StatusOK {
		mustJSON(b.t, body, &c)
	}
	return resp, c
}

// The confirm step names the image's model and version and what the device
// runs (lamp-1 identified as model "lamp", firmware 1.4.2).
func TestFirmware_Check_ShowsModelAndVersions(t *testing.T) {
	_, b, fake, _ := inspectServer(t)
	for _, tc := range []struct {
		img                         []byte
		downgrade, same, wrongModel bool
	}{
		{fwImage("lamp", "1.5.0"), false, false, false},
		{fwImage("lamp", "1.3.9"), true, false, false},
		{fwImage("lamp", "1.4.2"), false, true, false},
		{fwImage("socket", "2.0.0"), false, false, true},
	} {
		resp, c := b.checkImage("lamp-1", tc.img)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("check: %d", resp.StatusCode)
		}
		im, _ := testInspect(tc.img)
		if c.Device != "lamp-1" || c.Name == "" || c.DeviceModel != "lamp" || c.Current != "1.4.2" || c.Model != im.Model || c.Version != im.Version {
			t.Fatalf("check of %s %s: %+v", im.Model, im.Version, c)
		}
		if c.Downgrade != tc.downgrade || c.Same != tc.same || c.WrongModel != tc.wrongModel {
			t.Errorf("check of %s %s: downgrade %v same %v wrong model %v, want %v %v %v", im.Model, im.Version,
				c.Downgrade, c.Same, c.WrongModel, tc.downgrade, tc.same, tc.wrongModel)
		}
	}
	if resp, _ := b.checkImage("lamp-1", []byte("garbage")); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("check of garbage: %d, want 400", resp.StatusCode)
	}
	if fake.calls.Load() != 0 {
		t.Fatal("a check installed something")
	}
	if resp, _ := newBrowser(t, b.base).checkImage("lamp-1", fwImage("lamp", "1.5.0")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("check without a session: %d, want 401", resp.StatusCode)
	}
}

// An older, validly made image is refused unless the technician forces
// the downgrade; a forced one reaches the driver with the downgrade
// allowed and is logged with who did it.
func TestFirmware_Upload_OlderImageRefusedUnlessForced(t *testing.T) {
	ts, b, fake, logs := inspectServer(t)
	old := fwImage("lamp", "1.3.0")
	resp, body := b.upload("lamp-1", old, nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "1.4.2") || !strings.Contains(body, "1.3.0") {
		t.Fatalf("older image without the downgrade flag: %d %s, want 409 naming both versions", resp.StatusCode, body)
	}
	if fake.calls.Load() != 0 {
		t.Fatal("the refused downgrade reached the driver")
	}
	h := map[string]string{"Content-Type": "application/octet-stream"}
	resp, body = b.do("POST", "/api/devices/lamp-1/firmware?downgrade=1", string(old), h)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("forced downgrade: %d %s", resp.StatusCode, body)
	}
	waitJob(t, b, "lamp-1", "the downgrade to finish", func(j *FirmwareJob) bool { return j.State == FirmwareDone })
	if !fake.downgrade.Load() {
		t.Fatal("the driver was not told the downgrade is allowed")
	}
	if !strings.Contains(logs.String(), "firmware downgrade forced") || !strings.Contains(logs.String(), "user="+testUser) {
		t.Fatalf("forced downgrade not logged with the user:\n%s", logs.String())
	}
	if !hasEvent(ts.h, "downgrade 1.4.2 -> 1.3.0 forced by "+testUser) {
		t.Fatal("no event on the page for the forced downgrade")
	}
	// A newer image goes through without the flag, and the driver is not
	// told to allow a downgrade.
	if resp, body := b.upload("lamp-1", fwImage("lamp", "1.6.0"), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("newer image: %d %s", resp.StatusCode, body)
	}
	waitFor(t, "the second update", func() bool { return fake.calls.Load() == 2 })
	if fake.downgrade.Load() {
		t.Fatal("a plain update was sent with the downgrade allowed")
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		cmp  int
		ok   bool
	}{
		{"1.2.0", "1.10.0", -1, true},
		{"2.0.0", "1.255.255", 1, true},
		{"1.2", "1.2.0", 0, true},
		{"1.2.0", "", 0, false},
		{"1.x", "1.0", 0, false},
		{"-1.0", "1.0", 0, false},
	} {
		cmp, ok := compareVersions(tc.a, tc.b)
		if cmp != tc.cmp || ok != tc.ok {
			t.Errorf("compareVersions(%q, %q) = %d %v, want %d %v", tc.a, tc.b, cmp, ok, tc.cmp, tc.ok)
		}
	}
}
