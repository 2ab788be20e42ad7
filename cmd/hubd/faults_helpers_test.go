package main

// Helpers of the crash, fault, security and load tests: production configs
// with MQTT devices, raw queries that report errors instead of failing the
// test (they run in goroutines and across a kill -9), /metrics scraping,
// the child's resident memory, and latency percentiles.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"gopkg.in/yaml.v3"

	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub/yandex"
)

// mqttRunConfig is a `hubd run` config on the embedded broker at listen with
// the given emulated devices, the demo token for the Yandex API and the log
// at info (startDaemon waits for the "hubd started" line). edit, when set,
// changes the config before it is written.
func mqttRunConfig(t testing.TB, dir, listen, user, pass string, specs []mqttsim.Spec, edit func(*Config)) string {
	t.Helper()
	c := &Config{
		Gateway:        GatewayConfig{Name: "fault test"},
		HTTP:           HTTPConfig{Listen: "127.0.0.1:0"},
		DataDir:        filepath.Join(dir, "data"),
		StaleAfter:     10 * time.Minute,
		CommandTimeout: 2 * time.Second,
		Log:            LogConfig{Level: "info"},
		MQTT:           &MQTTConfig{Listen: listen, Username: user, Password: pass, ClientID: "hubd-fault-test"},
		Yandex:         YandexConfig{Users: []YandexUser{{ID: "owner", Tokens: []string{yandex.HashToken(demoToken)}, Staff: true}}},
	}
	room := &NodeConfig{ID: "room-1", Name: "Room 1", Kind: "room"}
	for _, s := range specs {
		d := simDeviceConfig(s, s.ID)
		c.Devices = append(c.Devices, d)
		room.Devices = append(room.Devices, s.ID)
	}
	c.Site = []*NodeConfig{{ID: "building", Name: "Building", Kind: "building", Children: []*NodeConfig{room}}}
	if edit != nil {
		edit(c)
	}
	return writeConfig(t, dir, c)
}

// writeConfig writes c to dir/hubd.yaml, checks that it loads, and
// returns its path.
func writeConfig(t testing.TB, dir string, c *Config) string {
	t.Helper()
	data, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "hubd.yaml")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); err != nil {
		t.Fatalf("generated config is invalid: %v\n%s", err, data)
	}
	return p
}

// tasmotaSockets are n Tasmota plugs named prefix-00, prefix-01, ...
func tasmotaSockets(prefix string, n int) []mqttsim.Spec {
	out := make([]mqttsim.Spec, n)
	for i := range out {
		id := fmt.Sprintf("%s-%02d", prefix, i)
		out[i] = mqttsim.Spec{ID: id, Dialect: mqttsim.Tasmota, Name: id, Kind: "socket"}
	}
	return out
}

// faultClient has short timeouts: a hung daemon fails the call, not the run.
var faultClient = &http.Client{Timeout: 5 * time.Second}

// queryRaw is devices/query without testing.T: it returns an error instead.
func queryRaw(client *http.Client, addr string, ids []string) (map[string]yandexDevice, error) {
	req, err := http.NewRequest("POST", "http://"+addr+"/v1.0/user/devices/query", bytes.NewReader(queryBody(ids)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+demoToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("query: status %d: %.200s", resp.StatusCode, data)
	}
	var r yandexReply
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("query reply: %v: %.200s", err, data)
	}
	out := make(map[string]yandexDevice, len(r.Payload.Devices))
	for _, d := range r.Payload.Devices {
		out[d.ID] = d
	}
	return out, nil
}

// floatValue is an instance's value as a number.
func floatValue(d yandexDevice, instance string) (float64, bool) {
	s, ok := d.value(instance)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// metrics is one scrape of /metrics: sample line (name{labels}) -> value.
type metrics map[string]float64

func scrape(addr string) (metrics, error) {
	resp, err := faultClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	m := metrics{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// sum adds the samples of name whose labels contain every one of labels
// (e.g. `driver="mqtt"`).
func (m metrics) sum(name string, labels ...string) float64 {
	var s float64
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(k, l)
		}
		if ok {
			s += v
		}
	}
	return s
}

func mustScrape(t testing.TB, addr string) metrics {
	t.Helper()
	m, err := scrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// rssKB is the resident memory of process pid in KiB (VmRSS).
func rssKB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// percentile of ds (sorted in place), p in [0, 1].
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(p * float64(len(ds)-1))
	return ds[i]
}

// mqttConnect connects a plain paho client to the broker at addr,
// retrying for a while (the broker may still be starting). It returns the
// last connect error when it never got in. A publish gives up after 2 s
// when its connection is gone (the broker killed): paho's default is to
// wait 30 s for a writer that no longer reads.
func mqttConnect(addr, id, user, pass string, within time.Duration) (paho.Client, error) {
	deadline := time.Now().Add(within)
	for {
		o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
			SetUsername(user).SetPassword(pass).SetCleanSession(true).
			SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(2 * time.Second).
			SetWriteTimeout(2 * time.Second)
		c := paho.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(3 * time.Second) {
			return nil, fmt.Errorf("mqtt connect %s: timed out", addr)
		}
		err := tok.Error()
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
