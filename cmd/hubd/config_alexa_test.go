package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"hubd/hub/alexa/alexatest"
)

// alexa.calls_per_second reaches the client as its rate limit (0 the
// default, a negative number none); a value that is no number of calls a
// second is refused with its line.
func TestAlexaConfig_CallsPerSecond(t *testing.T) {
	sim := alexatest.New(alexatest.Options{})
	defer sim.Close()
	sub := "  subscription_skill_id: s\n"
	for _, tc := range []struct {
		val  string
		want float64
	}{{"", 0}, {"  calls_per_second: 2.5\n", 2.5}, {"  calls_per_second: -1\n", -1}} {
		c, err := LoadConfig(alexaConfig(t, t.TempDir(), sim, sub+tc.val, twoFloors))
		if err != nil {
			t.Fatalf("%q: %v", tc.val, err)
		}
		if got := alexaOptions(c.Alexa, &Main{Config: c, Log: slog.New(slog.DiscardHandler)}).RatePerSecond; got != tc.want {
			t.Errorf("%q: client rate %v, want %v", tc.val, got, tc.want)
		}
	}
	for _, bad := range []string{".nan", ".inf", "-.inf"} {
		cfg := alexaConfig(t, t.TempDir(), sim, sub+"  calls_per_second: "+bad+"\n", twoFloors)
		var out, errw bytes.Buffer
		err := run([]string{"check-config", "-config", cfg}, nil, &out, &errw)
		if err == nil || !strings.Contains(err.Error(), "calls_per_second") {
			t.Errorf("calls_per_second %s: err = %v, want refused naming the key", bad, err)
		}
	}
}
