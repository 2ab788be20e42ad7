package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
	"hubd/hub/web"
	"hubd/store"
)

func TestMQTTHash_RoundTripAndRefusals(t *testing.T) {
	h, err := hashMQTTPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$`).MatchString(h) {
		t.Errorf("hash %q is not in mosquitto_passwd's $7$ form", h)
	}
	if !checkMQTTHash(h, []byte("s3cret")) {
		t.Error("the password does not match its own hash")
	}
	for _, bad := range []string{"s3cre", "s3cret ", ""} {
		if checkMQTTHash(h, []byte(bad)) {
			t.Errorf("%q matches", bad)
		}
	}
	for _, garbage := range []string{"", "$7$", "$6$101$AAAA$AAAA", "$7$0$AAAA$" + strings.Repeat("A", 88), "$7$101$!!$!!", "$7$101$AAAA$AAAA", h + "$x"} {
		if checkMQTTHash(garbage, []byte("s3cret")) {
			t.Errorf("garbage hash %q matches", garbage)
		}
	}
	if h2, _ := hashMQTTPassword("s3cret"); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
}

var passwordRe = regexp.MustCompile(`(?m)^  password: (\S+)$`)

// mqttAccountCmd runs `hubd mqtt-account ARGS` in-process.
func mqttAccountCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(append([]string{"mqtt-account"}, args...), strings.NewReader(""), &out, &errOut)
	return out.String() + errOut.String(), err
}

func accountSpecs() []mqttsim.Spec {
	return []mqttsim.Spec{
		{ID: "lamp-1", Dialect: mqttsim.Tasmota, Name: "lamp-one", Kind: hub.KindLight},
		{ID: "plug-1", Dialect: mqttsim.Shelly1, Name: "shellyplug-s-1", Kind: hub.KindSocket},
		{ID: "bulb-1", Dialect: mqttsim.Z2M, Name: "bulb-one", Kind: hub.KindLight},
	}
}

func TestMQTTAccountCLI_WithoutDaemon_ChangesTheStore(t *testing.T) {
	dir := t.TempDir()
	cfg := mqttRunConfig(t, dir, "127.0.0.1:0", "hubd", "hub-pass-1", accountSpecs(), func(c *Config) {
		c.Devices[1].MQTTAccount = "plugs"
	})
	out, err := mqttAccountCmd(t, "create", "lamp-1", "-config", cfg)
	m := passwordRe.FindStringSubmatch(out)
	if err != nil || m == nil || len(m[1]) != 32 || !strings.Contains(out, "lamp-1:$7$101$") {
		t.Fatalf("create: %v\n%s", err, out)
	}
	// A device id finds its account; the account's name does too.
	if out, err := mqttAccountCmd(t, "create", "-config", cfg, "plug-1"); err != nil || !strings.Contains(out, "MQTT account plugs (devices: plug-1)") {
		t.Errorf("create by device id: %v\n%s", err, out)
	}
	if _, err := mqttAccountCmd(t, "create", "lamp-1", "-config", cfg); !errors.Is(err, errMQTTAccountExists) {
		t.Errorf("second create: %v, want errMQTTAccountExists", err)
	}
	if _, err := mqttAccountCmd(t, "rotate", "zigbee2mqtt", "-config", cfg); !errors.Is(err, errMQTTAccountNoPassword) {
		t.Errorf("rotate without password: %v", err)
	}
	for _, unknown := range []string{"nobody", "hubd", "../x"} {
		if _, err := mqttAccountCmd(t, "create", unknown, "-config", cfg); !errors.Is(err, errNoMQTTAccount) {
			t.Errorf("create %q: %v, want errNoMQTTAccount", unknown, err)
		}
	}
	out, err = mqttAccountCmd(t, "list", "-config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lamp-1  lamp-1  set", "plugs  plug-1  set", "zigbee2mqtt  bulb-1  none"} {
		if !strings.Contains(strings.Join(strings.Fields(out), "  "), want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	// Taking a password away needs the daemon, which journals it.
	if _, err := mqttAccountCmd(t, "delete", "lamp-1", "-config", cfg); !errors.Is(err, errNeedsDaemon) {
		t.Errorf("delete without the daemon: %v, want errNeedsDaemon", err)
	}
	if _, err := mqttAccountCmd(t, "rotate", "lamp-1", "-config", cfg); !errors.Is(err, errNeedsDaemon) {
		t.Errorf("rotate without the daemon: %v, want errNeedsDaemon", err)
	}
	if _, err := mqttAccountCmd(t, "delete", "zigbee2mqtt", "-config", cfg); !errors.Is(err, errNoMQTTAccount) {
		t.Errorf("delete of an account without password: %v", err)
	}
	for _, bad := range [][]string{{}, {"create"}, {"frob", "x"}, {"list", "x"}, {"create", "a", "b"}} {
		if _, err := mqttAccountCmd(t, append(bad, "-config", cfg)...); err == nil {
			t.Errorf("mqtt-account %q: no usage error", bad)
		}
	}
}

// The daemon holds the store; the CLI reaches it over the admin socket and
// the broker takes the new password at once, with no restart.
func TestMQTTAccountCLI_RunningDaemonTakesItAtOnce(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	dir := t.TempDir()
	broker := freePort(t)
	cfg := mqttRunConfig(t, dir, broker, "hubd", "hub-pass-1", accountSpecs(), func(c *Config) { c.Web.AnonymousView = true })
	d := startDaemon(t, "run", "-config", cfg)

	out, err := mqttAccountCmd(t, "create", "lamp-1", "-config", cfg)
	m := passwordRe.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	c, err := mqttConnect(broker, "lamp-dev", "lamp-1", m[1], 5*time.Second)
	if err != nil {
		t.Fatalf("the new account does not log in: %v", err)
	}
	// Switching the plug is refused, and counted for the lamp's account.
	if tok := c.Publish("shellies/shellyplug-s-1/relay/0/command", 1, false, "on"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(0)
	if n := mustScrape(t, d.addr).sum("hubd_mqtt_acl_denied_total", `account="lamp-1"`, `action="publish"`); n != 1 {
		t.Errorf("denied publishes of lamp-1 in /metrics = %v, want 1", n)
	}
	// The status page lists every account, with or without a password.
	if got := statusAccounts(t, d.addr); got["lamp-1"] != "password 1/0" || got["plug-1"] != "none 0/0" || got["zigbee2mqtt"] != "none 0/0" || len(got) != 3 {
		t.Errorf("status mqtt_accounts = %v", got)
	}

	out, err = mqttAccountCmd(t, "rotate", "lamp-1", "-config", cfg)
	m2 := passwordRe.FindStringSubmatch(out)
	if err != nil || m2 == nil || m2[1] == m[1] {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	if c, err := mqttConnect(broker, "lamp-new", "lamp-1", m[1], 0); err == nil {
		c.Disconnect(0)
		t.Error("the rotated-out password still logs in")
	}
	// The login made with it is put out at once.
	eventually(t, 5*time.Second, "the old login disconnected", func() bool { return !c.IsConnectionOpen() })
	if !strings.Contains(d.out.String(), "clients of device accounts disconnected") {
		t.Error("the disconnection is not logged")
	}
	if c, err := mqttConnect(broker, "lamp-new", "lamp-1", m2[1], 0); err != nil {
		t.Errorf("the rotated password: %v", err)
	} else {
		c.Disconnect(0)
	}
	if _, err := mqttAccountCmd(t, "delete", "lamp-1", "-config", cfg); err != nil {
		t.Fatal(err)
	}
	if c, err := mqttConnect(broker, "lamp-new", "lamp-1", m2[1], 0); err == nil {
		c.Disconnect(0)
		t.Error("a deleted account logs in")
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "hubd.db")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(adminSocketPath(filepath.Join(dir, "data")))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket: %v, mode %v, want 0600", err, fi.Mode())
	}
}

// Another local user may not use the admin socket: not through the
// file's mode, and not when the mode is opened up (the peer check).
func TestAdminSocket_OtherUserRefused(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	if os.Geteuid() != 0 {
		t.Skip("runs a client as user nobody: needs root (CI runs as root)")
	}
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		t.Skip("needs /usr/bin/python3: apt-get install -y python3")
	}
	dir := t.TempDir()
	cfg := mqttRunConfig(t, dir, freePort(t), "hubd", "hub-pass-1", accountSpecs(), nil)
	data := filepath.Join(dir, "data")
	startDaemon(t, "run", "-config", cfg)
	// Only the socket's own mode may stand in nobody's way.
	for _, d := range []string{filepath.Dir(dir), dir, data} {
		os.Chmod(d, 0o755)
	}
	sock := adminSocketPath(data)
	client := `import socket,sys
s=socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("refused:", e.strerror); sys.exit(0)
s.sendall(b"POST /mqtt-accounts/lamp-1/create HTTP/1.0\r\nHost: x\r\n\r\n")
print(s.recv(200).decode().split("\r\n")[0])`
	asNobody := func() string {
		cmd := exec.Command(py, "-c", client, sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as nobody: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := asNobody(); !strings.HasPrefix(got, "refused: Permission denied") {
		t.Errorf("nobody on the 0600 socket: %q", got)
	}
	os.Chmod(sock, 0o666)
	if got := asNobody(); got != "HTTP/1.0 403 Forbidden" {
		t.Errorf("nobody on an opened-up socket: %q, want 403", got)
	}
	// And root, the party that must get through.
	if out, err := mqttAccountCmd(t, "create", "lamp-1", "-config", cfg); err != nil || passwordRe.FindString(out) == "" {
		t.Errorf("root: %v\n%s", err, out)
	}
}

// accountsPass, as benchMemory's password, has the devices log in with
// their device accounts.
const accountsPass = "\x00device-accounts"

// storeDeviceAccounts gives every device account of the config at cfg a
// password in its (not yet opened) store, and returns the devices' logins.
func storeDeviceAccounts(tb testing.TB, cfg string) func(mqttsim.Spec) (string, string) {
	tb.Helper()
	c, err := LoadConfig(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	db, err := store.Open(filepath.Join(c.DataDir, "hubd.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	creds, _, _, err := loadMQTTCredentials(db.Bucket(mqttAccountsBucket), nil)
	if err != nil {
		tb.Fatal(err)
	}
	accts, err := c.mqttAccounts()
	if err != nil {
		tb.Fatal(err)
	}
	adm := accountAdmin{creds: creds, accounts: c.mqttAccounts}
	byDevice := map[string][2]string{}
	for _, a := range accts {
		info, err := adm.setPassword(a.Name, false)
		if err != nil {
			tb.Fatal(err)
		}
		for _, id := range a.Devices {
			byDevice[id] = [2]string{a.Name, info.Password}
		}
	}
	return func(s mqttsim.Spec) (string, string) { l := byDevice[s.ID]; return l[0], l[1] }
}

// The status page's create and rotate reach the same accounts, with the
// errors its one error table maps.
func TestWebSetMQTTPassword_SameAccountsAndMappedErrors(t *testing.T) {
	dir := t.TempDir()
	c, err := LoadConfig(mqttRunConfig(t, dir, "127.0.0.1:0", "hubd", "hub-pass-1", accountSpecs(), nil))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "hubd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	led := memLedger{}
	creds, _, _, err := loadMQTTCredentials(db.Bucket(mqttAccountsBucket), led)
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: c, mqttCreds: creds}
	pw, err := m.webSetMQTTPassword("bulb-1", false)
	if err != nil || pw.Account != "zigbee2mqtt" || !creds.Check("zigbee2mqtt", []byte(pw.Password)) || !strings.HasPrefix(pw.PasswordFileLine, "zigbee2mqtt:$7$101$") {
		t.Fatalf("create by device: %+v, %v", pw, err)
	}
	if _, err := m.webSetMQTTPassword("zigbee2mqtt", false); !errors.Is(err, hub.ErrInvalidValue) {
		t.Errorf("second create: %v, want hub.ErrInvalidValue", err)
	}
	if _, err := m.webSetMQTTPassword("lamp-1", true); !errors.Is(err, hub.ErrInvalidValue) {
		t.Errorf("rotate without password: %v, want hub.ErrInvalidValue", err)
	}
	if _, err := m.webSetMQTTPassword("nobody", false); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("unknown: %v, want hub.ErrNotFound", err)
	}
	again, err := m.webSetMQTTPassword("zigbee2mqtt", true)
	if err != nil || creds.Check("zigbee2mqtt", []byte(pw.Password)) || !creds.Check("zigbee2mqtt", []byte(again.Password)) {
		t.Errorf("rotate: %v; the old password must stop and the new one work", err)
	}
}

// A damaged stored entry locks out its own account only, and create mends
// it; the daemon still starts.
func TestMQTTCredentials_DamagedEntryLocksOutOnlyItsAccount(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "hubd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kv := db.Bucket(mqttAccountsBucket)
	h, _ := hashMQTTPassword("good-one")
	for k, v := range map[string]string{"x": "\xff{not json", "y": `{"hash":"$7$101$AA$AA"}`, "z": `{"hash":"` + h + `"}`} {
		if err := kv.Put(k, v); err != nil {
			t.Fatal(err)
		}
	}
	creds, bad, _, err := loadMQTTCredentials(kv, nil)
	if err != nil || strings.Join(bad, ",") != "x,y" {
		t.Fatalf("load: bad %v, %v", bad, err)
	}
	if !creds.Check("z", []byte("good-one")) || creds.Check("y", []byte("")) || creds.Check("x", []byte("")) {
		t.Error("the good entry must log in and the damaged ones not")
	}
	adm := accountAdmin{creds: creds, accounts: func() ([]mqtt.Account, error) { return []mqtt.Account{{Name: "x", Devices: []string{"x"}}}, nil }}
	info, err := adm.setPassword("x", false)
	if err != nil || !creds.Check("x", []byte(info.Password)) {
		t.Fatalf("create over a damaged entry: %v", err)
	}
	if again, bad, _, _ := loadMQTTCredentials(kv, nil); len(bad) != 1 || !again.Check("x", []byte(info.Password)) {
		t.Errorf("after create, reloaded: bad %v", bad)
	}
}

// statusAccounts is /api/status's mqtt_accounts, by name: "password" or
// "none", then the denied publishes and subscribes.
func statusAccounts(t *testing.T, addr string) map[string]string {
	t.Helper()
	code, body := do(t, "GET", "http://"+addr+"/api/status", nil)
	var st struct {
		Accounts []web.MQTTAccount `json:"mqtt_accounts"`
	}
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil {
		t.Fatalf("/api/status: %d %v", code, err)
	}
	out := map[string]string{}
	for _, a := range st.Accounts {
		out[a.Name] = fmt.Sprintf("%s %d/%d", map[bool]string{true: "password", false: "none"}[a.HasPassword], a.DeniedPublish, a.DeniedSubscribe)
	}
	return out
}

// A rotated-out password does not come back with an older copy of the
// store: the journal outside hubd.db remembers it was taken away.
func TestMQTTAccount_RolledBackStore_OldPasswordStaysOut(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broker := freePort(t)
	cfg := mqttRunConfig(t, dir, broker, "hubd", "hub-pass-1", accountSpecs(), nil)
	dbPath := filepath.Join(dir, "data", "hubd.db")
	d := startDaemon(t, "run", "-config", cfg)
	out, err := mqttAccountCmd(t, "create", "lamp-1", "-config", cfg)
	m1 := passwordRe.FindStringSubmatch(out)
	if err != nil || m1 == nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	d.stop()
	backup, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, "run", "-config", cfg)
	out, err = mqttAccountCmd(t, "rotate", "lamp-1", "-config", cfg)
	if err != nil || passwordRe.FindStringSubmatch(out) == nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	d.stop()
	if err := os.WriteFile(dbPath, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, "run", "-config", cfg)
	if c, err := mqttConnect(broker, "lamp-old", "lamp-1", m1[1], 0); err == nil {
		c.Disconnect(0)
		t.Fatal("the rotated-out password works again with the older store")
	}
	if !strings.Contains(d.out.String(), "MQTT device accounts lamp-1: the store holds a password that was rotated or deleted since") {
		t.Fatalf("not reported:\n%s", d.out)
	}
	// A new password can be made for it at once.
	out, err = mqttAccountCmd(t, "create", "lamp-1", "-config", cfg)
	m3 := passwordRe.FindStringSubmatch(out)
	if err != nil || m3 == nil {
		t.Fatalf("create after: %v\n%s", err, out)
	}
	c, err := mqttConnect(broker, "lamp-new", "lamp-1", m3[1], 5*time.Second)
	if err != nil {
		t.Fatalf("the new password: %v", err)
	}
	c.Disconnect(0)
}

// memLedger is the ledger's revocations in memory, for tests without a
// data directory's journal.
type memLedger map[[sha256.Size]byte]bool

func (l memLedger) Revoke(d [sha256.Size]byte, _ time.Time) error { l[d] = true; return nil }
func (l memLedger) IsRevoked(d [sha256.Size]byte) bool            { return l[d] }

// Two creates of one account at once (an adoption and a technician on the
// page): one wins, the other is told the account has a password, and the
// password shown is the one that works.
func TestMQTTCredentials_ConcurrentCreates_OneWins(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "hubd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	creds, _, _, err := loadMQTTCredentials(db.Bucket(mqttAccountsBucket), memLedger{})
	if err != nil {
		t.Fatal(err)
	}
	adm := accountAdmin{creds: creds, accounts: func() ([]mqtt.Account, error) { return []mqtt.Account{{Name: "x", Devices: []string{"x"}}}, nil }}
	type result struct {
		info mqttAccountInfo
		err  error
	}
	out := make(chan result, 8)
	for range 8 {
		go func() { i, err := adm.setPassword("x", false); out <- result{i, err} }()
	}
	var won []mqttAccountInfo
	for range 8 {
		r := <-out
		switch {
		case r.err == nil:
			won = append(won, r.info)
		case !errors.Is(r.err, errMQTTAccountExists):
			t.Fatalf("create: %v", r.err)
		}
	}
	if len(won) != 1 || !creds.Check("x", []byte(won[0].Password)) {
		t.Fatalf("%d creates succeeded; the shown password works: %v", len(won), len(won) == 1 && creds.Check("x", []byte(won[0].Password)))
	}
}
