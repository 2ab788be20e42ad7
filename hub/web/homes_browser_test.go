package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPage_Chromium_ManagerGivesAHomeALogin signs in as the manager, gives
// Room 101 a login from the Homes panel and reads the password shown once.
func TestPage_Chromium_ManagerGivesAHomeALogin(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	rec := &recordingHomes{}
	opts := Options{AllowAnonymousView: true, Homes: rec, Users: []User{{Name: "boss", PasswordHash: testHash(t, "boss-pass"), Role: RoleManager}}}
	ts := newTestServer(t, opts)
	ctx := chromium(t, 1280, 1000)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/"), chromedp.WaitVisible(css(`#gateway`))); err != nil {
		t.Fatal(err)
	}
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('homes').hidden`)); err != nil || !hidden {
		t.Fatalf("the Homes panel shows before a manager signs in (%v)", err)
	}
	err := chromedp.Do(ctx,
		chromedp.Click(css(`#signin`), chromedp.NodeVisible),
		chromedp.SendKeys(css(`#login-user`), "boss", chromedp.NodeVisible),
		chromedp.SendKeys(css(`#login-pass`), "boss-pass", chromedp.NodeVisible),
		chromedp.Click(css(`#login-submit`), chromedp.NodeVisible),
		chromedp.WaitVisible(css(`#home-list .card button`)),
		// "New login" asks for confirmation: accept it.
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(window.confirm = () => true) && true`)(ctx, tg)
			return err
		}),
		chromedp.Click(css(`#home-list .card button`), chromedp.NodeVisible),
		chromedp.WaitVisible(css(`#home-secret code`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := chromedp.Run(ctx, chromedp.Text(css(`#home-secret`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(secret, "pw-login") || !strings.Contains(secret, "r101-wxyz") {
		t.Errorf("the new login is not shown: %q", secret)
	}
	waitFor(t, "the residents service call", func() bool { return rec.log() == "login r101 by web:boss" })
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('home-list').textContent.includes('r101-abcd')`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("the home list does not name the login: %v", err)
	}
}
