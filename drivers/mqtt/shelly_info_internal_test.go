package mqtt

import (
	"errors"
	"testing"
)

// A Gen1 device's shellies/<id>/info carries its Wi-Fi signal under
// wifi_sta.rssi; an info without one changes nothing, and a bad one is an
// error that names the field.
func TestDecodeShelly1_InfoGivesWiFiSignal(t *testing.T) {
	u, err := decodeShelly1(shellyInfo, []byte(`{"wifi_sta":{"connected":true,"ssid":"b","ip":"10.0.0.9","rssi":-67},"cloud":{"enabled":false},"mqtt":{"connected":true}}`))
	if err != nil || u.Link == nil || u.Link.RSSI == nil || *u.Link.RSSI != -67 {
		t.Fatalf("info with rssi -67: %+v, %v", u.Link, err)
	}
	if _, err := decodeShelly1(shellyInfo, []byte(`{"wifi_sta":{"connected":false}}`)); !errors.Is(err, ErrIgnored) {
		t.Errorf("info without rssi: %v, want ErrIgnored", err)
	}
	for _, bad := range []string{`{"wifi_sta":{"rssi":"loud"}}`, `{"wifi_sta":{"rssi":40}}`, `{"wifi_sta":[]}`, `[`} {
		if _, err := decodeShelly1(shellyInfo, []byte(bad)); err == nil || errors.Is(err, ErrIgnored) {
			t.Errorf("info %s: %v, want an error", bad, err)
		}
	}
}
