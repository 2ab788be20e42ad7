package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"hubd/hub/alexa"
	"hubd/hub/alexa/alexatest"
)

// alexaConfig writes a config whose alexa section points at sim; extra
// goes into the alexa section, site is the site section.
func alexaConfig(t *testing.T, dir string, sim *alexatest.Server, extra, site string) string {
	t.Helper()
	text := "data_dir: " + dir + "\nhttp:\n  listen: 127.0.0.1:0\n" +
		"alexa:\n  region: NA\n  api_url: " + sim.URL() + "\n  token_url: " + sim.TokenURL() +
		"\n  client_id: " + alexatest.DemoClientID + "\n  client_secret: " + alexatest.DemoClientSecret +
		"\n  parent_id: " + alexatest.DemoOrg + "\n  skill_id: " + alexatest.DemoSkill + "\n  sync_interval: 15m\n" + extra +
		"site:\n" + site
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const twoFloors = `  - id: b
    name: House
    kind: building
    children:
      - id: f1
        name: Floor 1
        kind: floor
        children:
          - {id: r101, name: Room 101, kind: room}
      - id: f2
        name: Floor 2
        kind: floor
`

const twoFloorsMoved = `  - id: b
    name: House
    kind: building
    children:
      - id: f1
        name: Floor 1
        kind: floor
      - id: f2
        name: Floor 2
        kind: floor
        children:
          - {id: r101, name: Room 101, kind: room}
`

func TestAlexaLogin_StoresTheRefreshTokenForLaterRuns(t *testing.T) {
	sim := alexatest.New(alexatest.Options{})
	defer sim.Close()
	dir := t.TempDir()
	cfg := alexaConfig(t, dir, sim, "  subscription_skill_id: "+alexatest.DemoSubscriptionSkill+"\n", twoFloors)
	// Without a login there is no refresh token: the plan says how to get one.
	var out, errw bytes.Buffer
	if err := run([]string{"alexa", "plan", "-config", cfg}, strings.NewReader(""), &out, &errw); err == nil ||
		!strings.Contains(err.Error(), "hubd alexa login") {
		t.Fatalf("plan before login: %v", err)
	}
	code := sim.IssueAuthCode(defaultRedirect)
	printed, err := alexaLogin(t, cfg, func(state string) string {
		return defaultRedirect + "?code=" + code + "&scope=alexa%3A%3Aenterprise%3Amanagement&state=" + state
	})
	if err != nil {
		t.Fatalf("login: %v\n%s", err, printed)
	}
	if !strings.Contains(printed, "scope=alexa%3A%3Aenterprise%3Amanagement") || !strings.Contains(printed, "logged in") {
		t.Fatalf("output:\n%s", printed)
	}
	if strings.Contains(printed, "Atzr|") {
		t.Fatal("the refresh token was printed")
	}
	out.Reset()
	if err := run([]string{"alexa", "sync", "-config", cfg}, strings.NewReader(""), &out, &errw); err != nil {
		t.Fatalf("sync after login: %v\n%s", err, out.String())
	}
	if got := strings.Join(sim.Paths(), ","); got != "House,House/Floor 1,House/Floor 1/Room 101,House/Floor 2" {
		t.Fatalf("units %s", got)
	}
	// A used code is refused, with no token stored over the good one.
	in := strings.NewReader(code + "\n")
	if err := run([]string{"alexa", "login", "-config", cfg}, in, &out, &errw); !errors.Is(err, alexa.ErrToken) {
		t.Fatalf("used code: %v", err)
	}
	for _, garbage := range []string{"", "two words\n", strings.Repeat("x", 5000)} {
		if err := run([]string{"alexa", "login", "-config", cfg}, strings.NewReader(garbage), &out, &errw); err == nil {
			t.Fatalf("input %.20q accepted", garbage)
		}
	}
}

func TestAlexaPlan_MovedRoomPrintsTheFullMove(t *testing.T) {
	t.Parallel() // its own simulator and temp dir
	sim := alexatest.New(alexatest.Options{})
	defer sim.Close()
	dir := t.TempDir()
	extra := "  refresh_token: " + alexatest.DemoRefreshToken + "\n  subscription_skill_id: " + alexatest.DemoSubscriptionSkill + "\n"
	cfg := alexaConfig(t, dir, sim, extra, strings.Replace(twoFloors, "kind: room}", "kind: room, devices: [lamp-1]}", 1)+devicesSection)
	var out, errw bytes.Buffer
	if err := run([]string{"alexa", "sync", "-config", cfg}, nil, &out, &errw); err != nil {
		t.Fatalf("sync: %v\n%s", err, out.String())
	}
	cfg = alexaConfig(t, dir, sim, extra, strings.Replace(twoFloorsMoved, "kind: room}", "kind: room, devices: [lamp-1]}", 1)+devicesSection)
	out.Reset()
	if err := run([]string{"alexa", "plan", "-config", cfg}, nil, &out, &errw); err != nil {
		t.Fatal(err)
	}
	plan := out.String()
	for _, want := range []string{
		`create unit "Room 101" for node r101 under node f2 (moved: its old unit`,
		"start discovery for node r101 (1 devices: lamp-1)",
		`"Room 101" of moved node r101 after discovery`,
	} {
		if !strings.Contains(plan, want) {
			t.Fatalf("plan lacks %q:\n%s", want, plan)
		}
	}
}

const devicesSection = `serial:
  - name: bus0
    port: /dev/ttyUSB0
devices:
  - id: lamp-1
    kind: light
    driver: serial
    bus: bus0
    address: 1
`

func TestCheckConfig_AlexaRefusesWhatTheAPIWould(t *testing.T) {
	sim := alexatest.New(alexatest.Options{})
	defer sim.Close()
	deep := "  - id: n1\n    name: L1\n    kind: building\n"
	indent := "    "
	for i := 2; i <= 15; i++ {
		deep += indent + "children:\n" + indent + "  - id: n" + strconv.Itoa(i) + "\n" + indent + "    name: L" + strconv.Itoa(i) + "\n" + indent + "    kind: wing\n"
		indent += "    "
	}
	sub := "  subscription_skill_id: s\n"
	cases := []struct{ name, extra, site, want string }{
		{"stage", sub + "  skill_stage: beta\n", twoFloors, "skill_stage"},
		{"negative level", sub + "  parent_level: -1\n", twoFloors, "parent_level"},
		{"no subscription skill", "  parent_level: 0\n", twoFloors, "alexa.subscription_skill_id is required"},
		{"too deep under a property", "  parent_level: 1\n", deep, "level 16"},
		{"residential lobby", sub + "  residential: true\n", "  - id: b\n    name: B\n    kind: building\n    children:\n      - {id: lobby, name: Lobby, kind: room, devices: [lamp-1]}\n      - {id: h1, name: Apt 1, kind: home}\n" + devicesSection, "neither a home nor inside one"},
	}
	for _, tc := range cases {
		cfg := alexaConfig(t, t.TempDir(), sim, tc.extra, tc.site)
		var out, errw bytes.Buffer
		err := run([]string{"check-config", "-config", cfg}, nil, &out, &errw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: err = %v", tc.name, err)
		}
	}
	// The controls: the same sites pass where they fit.
	for _, tc := range []struct{ extra, site string }{{sub + "  skill_stage: development\n", twoFloors}, {sub, deep}, {"  parent_level: 1\n", twoFloors}} {
		extra := tc.extra
		cfg := alexaConfig(t, t.TempDir(), sim, extra, tc.site)
		var out, errw bytes.Buffer
		if err := run([]string{"check-config", "-config", cfg}, nil, &out, &errw); err != nil {
			t.Fatalf("%q: %v", extra, err)
		}
	}
}

func TestDemo_AlexaSyncsItsSiteWithoutWarningsAgainstTheStrictSimulator(t *testing.T) {
	sim := alexatest.New(alexatest.Options{DiscoveryPolls: 1})
	defer sim.Close()
	c, err := demoConfig(DemoOptions{Alexa: sim.URL()}, "/dev/null", "pass")
	if err != nil {
		t.Fatal(err)
	}
	if c.Alexa.SkillStage != "development" {
		t.Fatalf("demo skill_stage %q is not the documented casing", c.Alexa.SkillStage)
	}
	var logs bytes.Buffer
	m := &Main{Config: c, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	o := alexaOptions(c.Alexa, m)
	o.KV, o.DiscoveryPoll, o.RatePerSecond = alexa.NewMemKV(), time.Millisecond, -1
	s, err := alexa.New(c.HubSite(), o)
	if err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		res, err := s.Sync(context.Background())
		if err != nil || len(res.Warnings) != 0 {
			t.Fatalf("run %d: err %v, warnings %q\n%s", run, err, res.Warnings, res.Plan)
		}
	}
	if strings.Contains(logs.String(), "level=WARN") || strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("demo sync logged warnings:\n%s", logs.String())
	}
	if !sim.SkillEnabled(func() string { id, _, _ := o.KV.Get("unit/demo-house"); return id }()) {
		t.Fatal("the demo did not enable its subscription skill")
	}
}

func TestCheckConfig_AlexaRefusesMalformedEndpointURLs(t *testing.T) {
	sim := alexatest.New(alexatest.Options{})
	defer sim.Close()
	for _, key := range []string{"api_url", "token_url"} {
		cfg := alexaConfig(t, t.TempDir(), sim, "  subscription_skill_id: s\n", twoFloors)
		text, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(text), "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "  "+key+":") {
				lines[i] = "  " + key + ": http://bad host/x"
			}
		}
		if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errw bytes.Buffer
		err = run([]string{"check-config", "-config", cfg}, nil, &out, &errw)
		if err == nil || !strings.Contains(err.Error(), "alexa."+key) {
			t.Fatalf("%s: err = %v", key, err)
		}
	}
}

// A config written before parent_level existed, whose parent_id is a
// property (so it has no subscription skill): the daemon still starts and
// check-config warns instead of refusing it.
func TestAlexaConfig_WithoutParentLevel_WarnsButRuns(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	sim := alexatest.New(alexatest.Options{})
	defer sim.Close()
	cfg := alexaConfig(t, t.TempDir(), sim, "", twoFloors)
	var out, errw bytes.Buffer
	if err := run([]string{"check-config", "-config", cfg}, nil, &out, &errw); err != nil {
		t.Fatalf("check-config refused an upgraded config: %v", err)
	}
	if !strings.Contains(out.String(), "warning") || !strings.Contains(out.String(), "parent_level") ||
		!strings.Contains(out.String(), "subscription_skill_id") {
		t.Fatalf("check-config printed no warning about parent_level:\n%s", out.String())
	}
	d := startDaemon(t, "run", "-config", cfg)
	if !strings.Contains(d.out.String(), "parent_level") {
		t.Errorf("run logged no warning about parent_level:\n%s", d.out)
	}
	d.stop()
}

// Without parent_level, a site that fits under an organization but not
// under a property is a warning; one that fits under neither is refused.
func TestCheckConfig_AlexaDepthWithoutParentLevel(t *testing.T) {
	sim := alexatest.New(alexatest.Options{})
	defer sim.Close()
	site := func(levels int) string {
		s := "  - id: n1\n    name: L1\n    kind: building\n"
		indent := "    "
		for i := 2; i <= levels; i++ {
			s += indent + "children:\n" + indent + "  - id: n" + strconv.Itoa(i) + "\n" + indent + "    name: L" + strconv.Itoa(i) + "\n" + indent + "    kind: wing\n"
			indent += "    "
		}
		return s
	}
	sub := "  subscription_skill_id: s\n"
	var out, errw bytes.Buffer
	if err := run([]string{"check-config", "-config", alexaConfig(t, t.TempDir(), sim, sub, site(15))}, nil, &out, &errw); err != nil {
		t.Fatalf("15 levels without parent_level: %v", err)
	}
	if !strings.Contains(out.String(), "warning") || !strings.Contains(out.String(), "level 16") {
		t.Fatalf("15 levels without parent_level: no warning that it does not fit under a property:\n%s", out.String())
	}
	out.Reset()
	err := run([]string{"check-config", "-config", alexaConfig(t, t.TempDir(), sim, sub, site(16))}, nil, &out, &errw)
	if err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("16 levels: err = %v, want refused", err)
	}
	out.Reset()
	if err := run([]string{"check-config", "-config", alexaConfig(t, t.TempDir(), sim, sub+"  parent_level: 0\n", site(15))}, nil, &out, &errw); err != nil || strings.Contains(out.String(), "warning") {
		t.Fatalf("15 levels under an explicit organization: err %v, output %q", err, out.String())
	}
}

// alexaLogin runs `hubd alexa login` as an operator would: it reads the
// printed consent address, and answers the prompt with what reply makes of
// the address's state. It returns everything printed.
func alexaLogin(t *testing.T, cfg string, reply func(state string) string) (string, error) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run([]string{"alexa", "login", "-config", cfg}, inR, outW, outW)
		outW.Close()
		done <- err
	}()
	var printed strings.Builder
	state := ""
	sc := bufio.NewScanner(outR)
	for sc.Scan() {
		line := sc.Text()
		printed.WriteString(line + "\n")
		if u, err := url.Parse(strings.TrimSpace(line)); err == nil && u.Query().Get("client_id") != "" {
			state = u.Query().Get("state")
		}
		if strings.HasSuffix(line, "here:") {
			go func(answer string) {
				_, _ = io.WriteString(inW, answer+"\n")
				inW.Close()
			}(reply(state))
		}
	}
	err := <-done
	inR.Close()
	return printed.String(), err
}

// A pasted address is taken only with the state the consent address
// carried; a bare code is taken as it is.
func TestAlexaLogin_PastedAddressMustCarryTheState(t *testing.T) {
	sim := alexatest.New(alexatest.Options{})
	defer sim.Close()
	cfg := alexaConfig(t, t.TempDir(), sim, "  subscription_skill_id: "+alexatest.DemoSubscriptionSkill+"\n", twoFloors)
	for name, reply := range map[string]func(code, state string) string{
		"wrong state": func(code, state string) string { return defaultRedirect + "?code=" + code + "&state=0123456789abcdef" },
		"no state":    func(code, state string) string { return defaultRedirect + "?code=" + code },
	} {
		code := sim.IssueAuthCode(defaultRedirect)
		printed, err := alexaLogin(t, cfg, func(state string) string { return reply(code, state) })
		if err == nil || !strings.Contains(err.Error(), "state") {
			t.Fatalf("%s: err = %v\n%s", name, err, printed)
		}
	}
	if sim.TokenCalls() != 0 {
		t.Fatalf("a refused address still reached the token endpoint (%d calls)", sim.TokenCalls())
	}
	code := sim.IssueAuthCode(defaultRedirect)
	printed, err := alexaLogin(t, cfg, func(string) string { return code })
	if err != nil || !strings.Contains(printed, "logged in") {
		t.Fatalf("bare code: %v\n%s", err, printed)
	}
	if !strings.Contains(printed, "state") {
		t.Fatalf("the prompt does not say the pasted address must carry its state:\n%s", printed)
	}
	code = sim.IssueAuthCode(defaultRedirect)
	if printed, err := alexaLogin(t, cfg, func(state string) string { return defaultRedirect + "?code=" + code + "&state=" + state }); err != nil {
		t.Fatalf("address with the right state: %v\n%s", err, printed)
	}
}
