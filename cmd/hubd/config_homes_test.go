package main

import (
	"strings"
	"testing"
)

// homesConfig is goodConfig with Room 101 a home under the building, a
// lobby that is not, a resident and a manager.
var homesConfig = strings.Replace(goodConfig, "    devices: [lamp-1]\n", `    children:
      - id: r101
        name: Room 101
        kind: home
        devices: [lamp-1]
      - id: lobby
        name: Lobby
        kind: room
`, 1) + `yandex:
  users:
    - id: u
      homes: [r101]
web:
  users:
    - name: boss
      password_hash: "$2a$04$p1Q.GYxJGG2gv9uF9UlD8uWkq6adnrqORqUVEec/UcVEvsSg7.qjy" # homes-test-pass, at bcrypt's lowest cost
      role: manager
`

func TestConfig_Homes_AcceptsHomesStaffAndRoles(t *testing.T) {
	for _, text := range []string{homesConfig, strings.Replace(homesConfig, "homes: [r101]", "staff: true", 1)} {
		c, err := ParseConfig("config.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if got := scopeOf(c.Yandex.Users[0]); !got.Staff && !got.HasHome("r101") {
			t.Fatalf("scope = %+v", got)
		}
	}
}

func TestConfig_Homes_ErrorsNameTheirLine(t *testing.T) {
	cases := []struct{ name, old, new, want string }{
		{"neither", "      homes: [r101]\n", "      tokens: []\n", `config.yaml:27: yandex user "u" needs homes: [<home node id>, ...] or staff: true`},
		{"both", "homes: [r101]", "homes: [r101]\n      staff: true", `config.yaml:29: yandex user "u" has both homes and staff`},
		{"unknown home", "homes: [r101]", "homes: [r101, r999]", `config.yaml:28: yandex user "u": home "r999" is not a site node of kind home`},
		{"not a home", "homes: [r101]", "homes: [lobby]", `config.yaml:28: yandex user "u": home "lobby" is not a site node of kind home`},
		{"twice", "homes: [r101]", "homes: [r101, r101]", `home "r101" twice`},
		{"bad role", "role: manager", "role: admin", `config.yaml:33: web user "boss": role "admin" is not technician or manager`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(homesConfig, c.old, c.new, 1)
			if text == homesConfig {
				t.Fatal("the case changes nothing")
			}
			_, err := ParseConfig("config.yaml", []byte(text))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}
