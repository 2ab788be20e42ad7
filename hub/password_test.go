package hub

import "testing"

func TestPasswordCost_FollowsTheConfiguredHashes(t *testing.T) {
	const (
		cost5  = "$2y$05$abcdefghijklmnopqrstuuJ0nUVpJ0wY0dTQLwqK2n3JX6lSBGdVa"
		cost5b = "$2a$05$zyxwvutsrqponmlkjihgfeJ0nUVpJ0wY0dTQLwqK2n3JX6lSBGdVa"
		cost12 = "$2b$12$abcdefghijklmnopqrstuuJ0nUVpJ0wY0dTQLwqK2n3JX6lSBGdVa"
	)
	for _, tc := range []struct {
		name   string
		hashes []string
		want   int
	}{
		{"none: the default", nil, 10},
		{"htpasswd -B", []string{cost5}, 5},
		{"the most common cost", []string{cost12, cost5, cost5b}, 5},
		{"a tie: the higher", []string{cost5, cost12}, 12},
		{"garbage is skipped", []string{"", "plain", "$2a$99$" + cost5[7:], "$2q$05$" + cost5[7:], cost12}, 12},
		{"a cut hash is skipped", []string{cost5[:59]}, 10},
	} {
		if got := PasswordCost(tc.hashes, 10); got != tc.want {
			t.Errorf("%s: cost %d, want %d", tc.name, got, tc.want)
		}
	}
}
