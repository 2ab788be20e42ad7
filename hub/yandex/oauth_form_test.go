package yandex

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

var tokenFormTable = []struct {
	name string
	body string
	want tokenRequest
	ok   bool
}{
	{"code grant", "grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fsocial.yandex.net%2Fbroker%2Fredirect&client_id=c&client_secret=s",
		tokenRequest{GrantType: "authorization_code", Code: "abc", RedirectURI: "https://social.yandex.net/broker/redirect", ClientID: "c", ClientSecret: "s"}, true},
	{"refresh grant", "grant_type=refresh_token&refresh_token=r-1_x", tokenRequest{GrantType: "refresh_token", RefreshToken: "r-1_x"}, true},
	{"plus is space", "client_secret=a+b%2Bc", tokenRequest{ClientSecret: "a b+c"}, true},
	{"empty value is omitted", "code=&grant_type=refresh_token", tokenRequest{GrantType: "refresh_token"}, true},
	{"unknown parameters ignored", "x=1&grant_type=refresh_token&&", tokenRequest{GrantType: "refresh_token"}, true},
	{"empty body", "", tokenRequest{}, true},
	{"utf-8 value", "code=%D0%BA%D0%BE%D0%B4", tokenRequest{Code: "код"}, true},
	{"repeated", "code=a&code=b", tokenRequest{}, false},
	{"repeated, one empty", "code=&code=b", tokenRequest{}, false},
	{"bad escape", "code=%z1", tokenRequest{}, false},
	{"truncated escape", "code=%4", tokenRequest{}, false},
	{"semicolon", "code=a;b", tokenRequest{}, false},
	{"invalid utf-8", "code=%C3%28", tokenRequest{}, false},
	{"value too long", "code=" + strings.Repeat("x", maxParam+1), tokenRequest{}, false},
	{"body too long", strings.Repeat("a=b&", maxForm/4+1), tokenRequest{}, false},
}

func TestDecodeTokenForm_Table(t *testing.T) {
	for _, tt := range tokenFormTable {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeTokenForm([]byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("error %v is not ErrInvalidRequest", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzDecodeTokenForm checks that the token endpoint's decoder never
// panics, keeps its limits, and agrees with net/url where it accepts.
func FuzzDecodeTokenForm(f *testing.F) {
	for _, tt := range tokenFormTable {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeTokenForm(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v is not ErrInvalidRequest", err)
			}
			return
		}
		ref, rerr := url.ParseQuery(string(body))
		if rerr != nil {
			t.Fatalf("accepted %q that net/url refuses: %v", body, rerr)
		}
		fields := map[string]string{
			"grant_type": got.GrantType, "code": got.Code, "redirect_uri": got.RedirectURI,
			"refresh_token": got.RefreshToken, "client_id": got.ClientID, "client_secret": got.ClientSecret,
		}
		again := url.Values{}
		for k, v := range fields {
			if len(v) > maxParam || !utf8.ValidString(v) {
				t.Fatalf("%s: %d bytes or invalid UTF-8", k, len(v))
			}
			if len(ref[k]) > 1 {
				t.Fatalf("%s is repeated in %q but accepted", k, body)
			}
			if ref.Get(k) != v {
				t.Fatalf("%s = %q, net/url says %q", k, v, ref.Get(k))
			}
			if v != "" {
				again.Set(k, v)
			}
		}
		round, err := decodeTokenForm([]byte(again.Encode()))
		if err != nil || round != got {
			t.Fatalf("round trip: %+v, %v; want %+v", round, err, got)
		}
	})
}

func TestOAuthDesc_IsRFCSafe(t *testing.T) {
	got := oauthDesc("yandex: oauth: bad \"x\\y\" \n ключ")
	for i := 0; i < len(got); i++ {
		if !descOK(got[i]) {
			t.Fatalf("%q has %q", got, got[i])
		}
	}
	if strings.HasPrefix(got, "yandex:") {
		t.Errorf("prefix kept: %q", got)
	}
}
