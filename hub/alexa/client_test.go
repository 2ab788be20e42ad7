package alexa

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hubd/hub/alexa/alexatest"
)

func TestClient_ListUnits_FollowsEncodedNextTokens(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	c, _ := NewClient(f.opts)
	ctx := context.Background()
	for i := range 35 {
		if _, err := c.CreateUnit(ctx, alexatest.DemoOrg, fmt.Sprintf("U%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	f.srv.ResetCounts()
	units, err := c.ListUnits(ctx, ListQuery{ParentID: alexatest.DemoOrg, Expand: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 35 || units[34].Name != "U34" || units[0].Level != 1 {
		t.Fatalf("got %d units, last %+v", len(units), units[len(units)-1])
	}
	if got := f.srv.Calls(http.MethodGet); got != 4 {
		t.Fatalf("list pages = %d, want 4", got)
	}
	// Without expand only ids come back.
	bare, _, err := c.ListUnitsPage(ctx, ListQuery{ParentID: alexatest.DemoOrg}, "")
	if err != nil || bare[0].Name != "" || bare[0].ID == "" {
		t.Fatalf("unexpanded page: %+v, %v", bare, err)
	}
}

func TestClient_Units_CRUD(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	c, _ := NewClient(f.opts)
	ctx := context.Background()
	id, err := c.CreateUnit(ctx, alexatest.DemoOrg, "Property")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RenameUnit(ctx, id, "Property B"); err != nil {
		t.Fatal(err)
	}
	u, err := c.GetUnit(ctx, id)
	if err != nil || u.Name != "Property B" || u.ParentID != alexatest.DemoOrg || u.Level != 1 {
		t.Fatalf("get: %+v, %v", u, err)
	}
	if err := c.EnableSkill(ctx, "amzn1.ask.skill.sub", id, ""); err != nil {
		t.Fatalf("enable skill: %v", err)
	}
	if err := c.DeleteUnit(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUnit(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := c.DeleteUnit(ctx, id); err != nil {
		t.Fatalf("deleting a gone unit: %v", err)
	}
	_, err = c.CreateUnit(ctx, "amzn1.alexa.unit.did.nope", "x")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.RequestID == "" || apiErr.Type != "NOT_FOUND" {
		t.Fatalf("create under unknown parent: %v", err)
	}
}

func TestClient_Do_RetriesThrottlingWithGrowingDelaysAndCap(t *testing.T) {
	var calls atomic.Int32
	var stamps []time.Time
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			fmt.Fprint(w, `{"access_token":"a","expires_in":3600}`)
			return
		}
		calls.Add(1)
		stamps = append(stamps, time.Now())
		w.Header().Set("X-Amzn-RequestId", "req-429")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"type":"RATE_EXCEEDED","message":"too many"}`)
	}))
	c, _ := NewClient(Options{APIBase: srv, TokenURL: srv + "/token", ClientID: "c", ClientSecret: "s", RefreshToken: "r",
		RetryBase: 2 * time.Millisecond, MaxRetries: 4, RatePerSecond: -1})
	_, err := c.GetUnit(context.Background(), "u")
	if !errors.Is(err, ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.RequestID != "req-429" || apiErr.Type != "RATE_EXCEEDED" {
		t.Fatalf("err lacks API details: %v", err)
	}
	if calls.Load() != 5 {
		t.Fatalf("calls = %d, want 1 + 4 retries", calls.Load())
	}
	// Delays follow 2,3,5,8 x base with ±20% jitter: the last gap is at
	// least 8*0.8*2ms, more than the first gap can be at most.
	if last := stamps[4].Sub(stamps[3]); last < 12*time.Millisecond {
		t.Fatalf("last delay %v did not grow to 8 x base", last)
	}
}

func TestClient_Do_HonorsRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			fmt.Fprint(w, `{"access_token":"a","expires_in":3600}`)
			return
		}
		if calls.Add(1) <= 3 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"id":"u","name":{"type":"PLAIN","value":{"text":"n"}},"level":1}`)
	}))
	// The schedule alone would wait hours: only Retry-After lets this finish.
	c, _ := NewClient(Options{APIBase: srv, TokenURL: srv + "/token", ClientID: "c", ClientSecret: "s", RefreshToken: "r",
		RetryBase: time.Hour, RatePerSecond: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := c.GetUnit(ctx, "u")
	if err != nil || u.Name != "n" || calls.Load() != 4 {
		t.Fatalf("got %+v, %v after %d calls", u, err, calls.Load())
	}
}

func TestClient_CreateUnit_NotRepeatedAfter5xx(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	c, _ := NewClient(f.opts)
	f.srv.FailEvery(1, http.StatusServiceUnavailable)
	_, err := c.CreateUnit(context.Background(), alexatest.DemoOrg, "X")
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, ErrServer) {
		t.Fatalf("err = %v, want ErrOutcomeUnknown and ErrServer", err)
	}
	if n := f.srv.Calls(http.MethodPost); n != 1 {
		t.Fatalf("create sent %d times, want 1", n)
	}
	f.srv.FailEvery(0, 0)
	f.srv.LoseCreateReplies(1)
	_, err = c.CreateUnit(context.Background(), alexatest.DemoOrg, "Y")
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("lost reply: err = %v", err)
	}
	if f.srv.UnitCount() != 1 {
		t.Fatalf("units = %d, want the one whose reply was lost", f.srv.UnitCount())
	}
}

func TestClient_Do_RejectsOversizeAndMalformedReplies(t *testing.T) {
	cases := []struct {
		name string
		body string
		want error
	}{
		{"oversize", `{"results":[` + strings.Repeat(`{"id":"x"},`, 200000) + `{"id":"y"}]}`, ErrReplyTooLarge},
		{"garbage", `garbage`, ErrMalformedReply},
		{"truncated", `{"results":[{"id":"a"}`, ErrMalformedReply},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/token" {
					fmt.Fprint(w, `{"access_token":"a","expires_in":3600}`)
					return
				}
				fmt.Fprint(w, tc.body)
			}))
			c, _ := NewClient(Options{APIBase: srv, TokenURL: srv + "/token", ClientID: "c", ClientSecret: "s", RefreshToken: "r",
				RatePerSecond: -1, MaxRetries: -1})
			_, err := c.ListUnits(context.Background(), ListQuery{ParentID: "p"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestClient_Do_TimesOut(t *testing.T) {
	block := make(chan struct{})
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			fmt.Fprint(w, `{"access_token":"a","expires_in":3600}`)
			return
		}
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer close(block)
	c, _ := NewClient(Options{APIBase: srv, TokenURL: srv + "/token", ClientID: "c", ClientSecret: "s", RefreshToken: "r",
		RatePerSecond: -1, MaxRetries: -1, CallTimeout: 50 * time.Millisecond})
	if _, err := c.GetUnit(context.Background(), "u"); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestNewLimiter_SpacesCalls(t *testing.T) {
	l := NewLimiter(1000)
	ctx := context.Background()
	start := time.Now()
	for range 21 {
		if err := l.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// 21 calls at 1000/s need at least 20 intervals of 1ms.
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Fatalf("21 calls passed in %v", el)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := NewLimiter(0.001).Wait(cctx); err == nil {
		t.Fatal("Wait ignores a cancelled context")
	}
}

func TestOptions_Regions(t *testing.T) {
	for region, want := range map[string]string{"": BaseNA, "na": BaseNA, "EU": BaseEU, "FE": BaseFE} {
		o, err := Options{Region: region}.withDefaults()
		if err != nil || o.APIBase != want {
			t.Errorf("region %q: %q, %v", region, o.APIBase, err)
		}
	}
	if _, err := (Options{Region: "MARS"}).withDefaults(); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("unknown region: %v", err)
	}
	o, _ := Options{}.withDefaults()
	if o.TokenURL != DefaultTokenURL || o.SkillStage != "live" {
		t.Errorf("defaults: %+v", o)
	}
}
