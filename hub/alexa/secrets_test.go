package alexa

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"hubd/hub/alexa/alexatest"
)

func TestSyncer_SecretsNeverInLogsErrorsPlansOrStatus(t *testing.T) {
	f := newFixture(t, alexatest.Options{RotateRefreshToken: true})
	f.srv.FailEvery(5, http.StatusTooManyRequests)
	f.srv.LoseCreateReplies(1)
	site := buildSite(2, 4)
	s := f.syncer(t, site)
	var seen []string
	ctx := context.Background()
	p, err := s.Plan(ctx)
	seen = append(seen, p.String(), fmt.Sprint(err))
	res, err := s.Sync(ctx)
	seen = append(seen, res.Plan.String(), fmt.Sprint(err), strings.Join(res.Errors, "\n"))
	f.srv.ExpireTokens()
	f.srv.FailEvery(1, http.StatusInternalServerError)
	site.Find("f1-r1").Name = "Changed"
	_ = s.SetSite(site)
	res, err = s.Sync(ctx)
	seen = append(seen, fmt.Sprint(err), strings.Join(res.Errors, "\n"))
	f.srv.FailEvery(0, 0)
	f.srv.RevokeRefreshTokens()
	f.srv.ExpireTokens()
	s.Client().Tokens().Invalidate()
	_, err = s.Sync(ctx)
	seen = append(seen, fmt.Sprint(err))
	st, _ := json.Marshal(s.Status())
	seen = append(seen, string(st), f.logs.String())
	all := strings.Join(seen, "\n")
	if !strings.Contains(all, "invalid_grant") || !strings.Contains(all, "request id") {
		t.Fatalf("the scenario did not produce the errors it should:\n%s", all)
	}
	for _, secret := range []string{alexatest.DemoClientSecret, alexatest.DemoRefreshToken, "Atza|", "Atzr|"} {
		if strings.Contains(all, secret) {
			i := strings.Index(all, secret)
			t.Fatalf("secret %q leaked: ...%s...", secret, all[max(0, i-200):min(len(all), i+50)])
		}
	}
}
