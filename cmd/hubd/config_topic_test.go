package main

import (
	"os"
	"strings"
	"testing"
)

// check-config refuses the MQTT topics that `run` refuses, naming the line.
func TestCheckConfig_RefusesTopicsRunRefuses(t *testing.T) {
	raw, err := os.ReadFile("../../systemd/hubd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(withOwnSecrets(t, string(raw)))
	if !strings.Contains(string(b), "topic: r101-lamp") {
		t.Fatal("example config changed: no r101-lamp topic")
	}
	for _, bad := range []string{"r101/#", "r101+", "r101\\0lamp", "a/b"} {
		s := strings.Replace(string(b), "topic: r101-lamp", `topic: "`+bad+`"`, 1)
		_, err := ParseConfig("hubd.yaml", []byte(s))
		if err == nil || !strings.Contains(err.Error(), `device "r101-lamp": mqtt: bad device address`) {
			t.Errorf("topic %q: %v", bad, err)
		}
	}
	if _, err := ParseConfig("hubd.yaml", b); err != nil {
		t.Fatalf("the example itself: %v", err)
	}
}
