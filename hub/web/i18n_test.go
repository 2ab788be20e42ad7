package web

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func getCatalogue(t *testing.T, url, acceptLanguage string) Catalogue {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d", url, resp.StatusCode)
	}
	var c Catalogue
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestI18n_NegotiatesFromAcceptLanguageAndQuery(t *testing.T) {
	// The catalogue holds no secret: the sign-in form needs it, so a
	// stranger on a gateway without anonymous view gets it too.
	ts := newTestServer(t, Options{AllowAnonymousView: false})
	for _, c := range []struct{ query, accept, want string }{
		{"", "", "en"},
		{"", "ru-RU,ru;q=0.9,en-US;q=0.8", "ru"},
		{"", "en-US,en;q=0.9,ru;q=0.8", "en"},
		{"", "de-DE,de;q=0.9", "en"},
		{"", "de;q=0.9, ru;q=0.5", "ru"},
		{"", "ru;q=0, en", "en"},
		{"", "ru;q=banana", "en"},
		{"?lang=ru", "en-US", "ru"},
		{"?lang=../../../etc/passwd", "ru", "ru"},
		{"?lang=xx", "", "en"},
		{"", strings.Repeat("x-y;q=0.1,", 5000) + "ru", "en"}, // past the first 32 ranges
		{"", ",,;;q=,\t", "en"},
	} {
		got := getCatalogue(t, ts.url+"/api/i18n"+c.query, c.accept)
		if got.Lang != c.want {
			t.Errorf("%q %q: %s, want %s", c.query, c.accept, got.Lang, c.want)
		}
		if len(got.Languages) < 2 || got.Messages["state.healthy"] == "" {
			t.Errorf("%q %q: %d languages, %d messages", c.query, c.accept, len(got.Languages), len(got.Messages))
		}
	}
}

// TestI18n_EveryCatalogueHasEveryKey: a language is complete or it is
// not shipped; and every key the page's scripts ask for is in English.
func TestI18n_EveryCatalogueHasEveryKey(t *testing.T) {
	c, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	en := c.msgs[defaultLang]
	for _, l := range c.langs {
		if l.Name == "" {
			t.Errorf("%s has no _name", l.Code)
		}
		for k := range en {
			if _, ok := c.msgs[l.Code][k]; !ok {
				t.Errorf("%s lacks %q", l.Code, k)
			}
		}
		for k := range c.msgs[l.Code] {
			if _, ok := en[k]; !ok {
				t.Errorf("%s has %q, which English lacks", l.Code, k)
			}
		}
	}
	used := regexp.MustCompile(`\bt\('([a-z_]+(?:\.[a-z_]+)+)'`)
	attr := regexp.MustCompile(`data-i18n(?:-[a-z]+)?="([a-z_.]+)"`)
	asked := 0
	for _, f := range []string{"assets/app.js", "assets/devlist.js", "assets/diag.js", "assets/i18n.js", "assets/mqtt_accounts.js", "assets/uplink.js", "assets/homes.js", "assets/discovery.js", "assets/index.html"} {
		b, err := assets.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []*regexp.Regexp{used, attr} {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				asked++
				if _, ok := en[m[1]]; !ok {
					t.Errorf("%s asks for %q, not in en.json", f, m[1])
				}
			}
		}
	}
	if asked < 100 {
		t.Errorf("found only %d keys asked for: the patterns no longer match the scripts", asked)
	}
	for _, code := range []string{"offline", "no_reply", "crc_errors", "port_gone", "broker_down", "will", "stale", "refused", "never_seen", "no_answer"} {
		for _, part := range []string{"title", "next"} {
			if en["diag."+code+"."+part] == "" {
				t.Errorf("no words for diagnosis %s (%s)", code, part)
			}
		}
	}
}
