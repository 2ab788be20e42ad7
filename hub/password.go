package hub

// PasswordCost returns the bcrypt cost that most of hashes were made with
// (the highest of equally common ones), or def when none is a bcrypt hash.
//
// A login that names an unknown user is checked against a dummy hash of
// this cost, so it takes as long as a wrong password for a real one: a
// dummy of a fixed cost (10) against configured hashes of cost 5
// (htpasswd -B) tells an attacker which user ids exist by the time the
// answer takes. The adapters that check passwords (hub/web, hub/yandex)
// share it; a config mixing costs still shows which cost a user has.
func PasswordCost(hashes []string, def int) int {
	seen := map[int]int{}
	best, bestN := def, 0
	for _, h := range hashes {
		c, ok := bcryptCost(h)
		if !ok {
			continue
		}
		seen[c]++
		if n := seen[c]; n > bestN || n == bestN && c > best {
			best, bestN = c, n
		}
	}
	return best
}

// bcryptCost reads the cost of a modular-crypt bcrypt hash:
// "$2a$05$" followed by 53 characters of salt and digest.
func bcryptCost(h string) (int, bool) {
	if len(h) != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$' {
		return 0, false
	}
	switch h[2] {
	case 'a', 'b', 'x', 'y':
	default:
		return 0, false
	}
	if h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' {
		return 0, false
	}
	c := int(h[4]-'0')*10 + int(h[5]-'0')
	if c < 4 || c > 31 {
		return 0, false
	}
	return c, true
}
