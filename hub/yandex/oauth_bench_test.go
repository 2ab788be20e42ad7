package yandex

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkOAuth measures, over real loopback HTTP, refresh-token rotation
// (each one persists two entries and deletes one in the KV) and queries
// authorized by an issued access token among 2,000 live ones.
func BenchmarkOAuth(b *testing.B) {
	h := benchHub(b, 1000)
	const users = 100
	var us []User
	for i := range users {
		us = append(us, User{ID: fmt.Sprintf("user-%03d", i)})
	}
	kv := &mapKV{}
	opts := oauthOptions(kv)
	api, err := New(h, Options{Users: us, OAuth: opts})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	now := h.Now()
	var last pair
	for i := range users * 10 {
		p, err := api.oauth.store.issue(us[i%users].ID, fmt.Sprintf("g%d", i), "", now, time.Hour, 24*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		last = p
	}
	b.Logf("%d live issued tokens", api.oauth.store.count(""))

	b.Run("refresh", func(b *testing.B) {
		for range b.N {
			const rounds = 300
			client := srv.Client()
			lat := make([]time.Duration, 0, rounds)
			rt := last.refresh
			start := time.Now()
			for range rounds {
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {testClientID}, "client_secret": {testSecret}}
				t := time.Now()
				resp, err := client.Post(srv.URL+"/oauth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
				if err != nil {
					b.Fatal(err)
				}
				var out tokenResponse
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				lat = append(lat, time.Since(t))
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("refresh: %d %v", resp.StatusCode, err)
				}
				rt = out.RefreshToken
			}
			el := time.Since(start)
			last.refresh = rt
			slices.Sort(lat)
			b.ReportMetric(pct(lat, 0.5), "p50-µs")
			b.ReportMetric(pct(lat, 0.99), "p99-µs")
			b.ReportMetric(float64(rounds)/el.Seconds(), "refresh/s")
		}
	})

	b.Run("query-issued-token", func(b *testing.B) {
		tk, err := api.oauth.store.issue(us[0].ID, "bench", "", h.Now(), time.Hour, 24*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		body := queryBody(10, 0, 0)
		for range b.N {
			lat, rps := load(b, srv.URL+"/v1.0/user/devices/query", tk.access, body, 4, 4000)
			b.ReportMetric(pct(lat, 0.5), "p50-µs")
			b.ReportMetric(pct(lat, 0.99), "p99-µs")
			b.ReportMetric(rps, "req/s")
		}
	})
}
