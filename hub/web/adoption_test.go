package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"hubd/hub"
)

func TestAdoptionAPI_ListIsForTechniciansOnly(t *testing.T) {
	ad := &listAdoption{found: []hub.Found{{Driver: "serial", Address: "bus0/5", Kind: hub.KindLight, Seen: time.Now(),
		Caps: hub.Caps{Fields: hub.Fields(hub.FieldOn, hub.FieldTemperatureK), TempMinK: 3000, TempMaxK: 6000}}}}
	ts := newTestServer(t, Options{AllowAnonymousView: true, Adoption: ad})
	anon := newBrowser(t, ts.url)
	if resp, _ := anon.do("GET", "/api/discovered", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous list: %d", resp.StatusCode)
	}
	tech := newBrowser(t, ts.url)
	tech.login(testUser, testPass)
	resp, body := tech.do("GET", "/api/discovered", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"capabilities":["on","temperature_k"]`) || !strings.Contains(body, `"temperature_min_k":3000`) {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	// Garbage, trailing data, unknown fields and oversize bodies are
	// refused with a reason, and nothing is adopted.
	for _, b := range []string{`{`, `{"driver":"serial","address":"bus0/5","id":"a","room":"r101"} x`,
		`{"driver":"serial","address":"bus0/5","id":"a","room":"r101","admin":true}`, `{"driver":"serial","address":"bus0/5","id":"a"}`,
		`{"driver":"serial","address":"bus0/5","id":"` + strings.Repeat("a", 70) + `","room":"r101"}`, strings.Repeat(" ", 70000)} {
		if resp, body := tech.do("POST", "/api/adopt", b, nil); resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%.40q: %d %s", b, resp.StatusCode, body)
		}
	}
	if resp, body := tech.do("POST", "/api/adopt", `{"driver":"serial","address":"bus0/5","id":"white","room":"r101"}`, nil); resp.StatusCode != 200 || !strings.Contains(body, `"temperature_k"`) {
		t.Fatalf("adopt: %d %s", resp.StatusCode, body)
	}
	if len(ad.adopted) != 1 {
		t.Fatalf("adopted %v", ad.adopted)
	}
}

func TestAdoptionAPI_OffAnswers501(t *testing.T) {
	ts := newTestServer(t, Options{})
	tech := newBrowser(t, ts.url)
	tech.login(testUser, testPass)
	if resp, _ := tech.do("GET", "/api/discovered", "", nil); resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("list without discovery: %d", resp.StatusCode)
	}
	if resp, _ := tech.do("POST", "/api/forget", `{"id":"x"}`, nil); resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("forget without discovery: %d", resp.StatusCode)
	}
}

func FuzzDecodeAdopt(f *testing.F) {
	f.Add([]byte(`{"driver":"serial","address":"bus0/5","id":"white","name":"W","room":"r101"}`))
	f.Add([]byte(`{"id":"` + "\x00" + `"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeAdopt(b)
		if err == nil && (!validID.MatchString(r.ID) || r.Room == "" || r.Address == "") {
			t.Fatalf("accepted %+v", r)
		}
	})
}
