//go:build linux

package broker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// heapDevices is how many devices BenchmarkBroker_HeapPerConnection
// connects.
const heapDevices = 2000

// BenchmarkBroker_HeapPerConnection reports the live heap the broker
// holds per connected device: heapDevices devices, each with a retained
// will, its filters, two retained messages and a telemetry message, with
// the hub listening in process under each first level as its MQTT driver
// does ("tele/#", and "<id>/#" for a Shelly Gen2 device). "tasmota": every
// device a Tasmota plug (one wildcard filter, a retained discovery
// message); "mix": a gateway's mix, Tasmota, Zigbee2MQTT, Shelly Gen1 and
// Gen2 in turn. The devices are raw sockets driven by system calls, so
// they put nothing of their own on the Go heap: the figure is the
// broker's alone (its retained messages included). "runtime-B/conn" is
// the Go runtime's own memory outside the heap per connection (what it
// keeps for a socket in its poller, for one). The runtime never gives
// such memory back but reuses it, so in one run only the first
// sub-benchmark's figure is the whole cost: run "epoll$" alone for it.
func BenchmarkBroker_HeapPerConnection(b *testing.B) {
	for _, run := range []struct {
		name       string
		goroutines bool
		mix        bool
	}{{"epoll", false, false}, {"epoll-mix", false, true}, {"goroutine", true, false}} {
		b.Run(run.name, func(b *testing.B) {
			for range b.N {
				per, rt := heapPerConnection(b, run.goroutines, run.mix)
				b.ReportMetric(per, "B/conn")
				b.ReportMetric(rt, "runtime-B/conn")
			}
		})
	}
}

// benchDevice is what one device of BenchmarkBroker_HeapPerConnection
// says to the broker.
type benchDevice struct {
	id        string
	will      Message
	filters   []string
	retained  [2][2]string // topic, payload
	telemetry [2]string
	hub       string // a filter the hub adds for it, or ""
}

const benchDiscovery = `{"ip":"192.0.2.20","dn":"Plug","fn":["Plug-1",null,null,null],"hn":"%s","mac":"%s","md":"Sonoff S31","ty":0,"if":0,` +
	`"ofln":"Offline","onln":"Online","state":["OFF","ON","TOGGLE","HOLD"],"sw":"13.4.0","t":"%[1]s","ft":"%%prefix%%/%%topic%%/","tp":["cmnd","stat","tele"]}`

// heapDevice is device i: a Tasmota plug, or with mix one of four kinds.
func heapDevice(i int, mix bool) benchDevice {
	kind := 0
	if mix {
		kind = i % 4
	}
	state := `{"Time":"2026-12-07T09:00:00","POWER":"ON","Wifi":{"RSSI":80}}`
	switch kind {
	case 1:
		name := fmt.Sprintf("zigbee2mqtt/floor%d/socket-%05d", i%3, i)
		return benchDevice{id: fmt.Sprintf("z2m-%05d", i),
			will:      Message{Topic: name + "/availability", Payload: []byte(`{"state":"offline"}`), QoS: 1, Retain: true},
			filters:   []string{name + "/set", name + "/get"},
			retained:  [2][2]string{{name + "/availability", `{"state":"online"}`}, {name + "/info", `{"model":"TS011F","vendor":"TuYa"}`}},
			telemetry: [2]string{name, `{"state":"ON","power":12.5,"voltage":231,"current":0.05,"energy":1.2,"linkquality":120}`}}
	case 2:
		name := fmt.Sprintf("shellies/shellyplug-s-%06X", i)
		return benchDevice{id: fmt.Sprintf("shellyplug-s-%06X", i),
			will:      Message{Topic: name + "/online", Payload: []byte("false"), QoS: 1, Retain: true},
			filters:   []string{name + "/relay/+/command", name + "/command"},
			retained:  [2][2]string{{name + "/online", "true"}, {name + "/announce", `{"id":"shellyplug-s","model":"SHPLG-S","fw_ver":"20230913-114008"}`}},
			telemetry: [2]string{name + "/relay/0/power", "12.5"}}
	case 3:
		id := fmt.Sprintf("shellyplusplugs-%012x", i)
		return benchDevice{id: id,
			will:      Message{Topic: id + "/online", Payload: []byte("false"), QoS: 1, Retain: true},
			filters:   []string{id + "/rpc"},
			retained:  [2][2]string{{id + "/online", "true"}, {id + "/status/switch:0", `{"id":0,"output":true,"apower":12.5,"voltage":231.0}`}},
			telemetry: [2]string{id + "/events/rpc", `{"method":"NotifyStatus","params":{"switch:0":{"apower":12.5}}}`},
			hub:       id + "/#"}
	}
	name, mac := fmt.Sprintf("tasmota_%06X", i), fmt.Sprintf("A0B1C2%06X", i)
	lwt := "tele/" + name + "/LWT"
	return benchDevice{id: "DVES_" + mac[6:],
		will:      Message{Topic: lwt, Payload: []byte("Offline"), QoS: 1, Retain: true},
		filters:   []string{"cmnd/" + name + "/+"},
		retained:  [2][2]string{{lwt, "Online"}, {"tasmota/discovery/" + mac + "/config", fmt.Sprintf(benchDiscovery, name, mac)}},
		telemetry: [2]string{"tele/" + name + "/STATE", state}}
}

// heapPerConnection returns the heap and the runtime's memory outside
// it (runtimeOther) each device added.
func heapPerConnection(b *testing.B, goroutines, mix bool) (heap, runtimeMem float64) {
	br, err := New(Options{Listen: "127.0.0.1:0", GoroutinePerConn: goroutines, MaxConnections: heapDevices + 10, MaxClients: heapDevices + 10})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = br.Serve() }()
	defer br.Close()
	hub := br.NewLocal(func(string, []byte) {})
	for _, f := range []string{"tele/#", "tasmota/#", "stat/#", "zigbee2mqtt/#", "shellies/#"} {
		if err := hub.Subscribe(f); err != nil {
			b.Fatal(err)
		}
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	ap, err := net.ResolveTCPAddr("tcp", br.Addr())
	if err != nil {
		b.Fatal(err)
	}
	var before, rtBefore uint64
	for i := range heapDevices + 4 {
		if i == 4 {
			// The first devices have the broker make what it makes once
			// (the epoll reader's buffer, the tree's first levels).
			waitTaken(b, br, 4)
			before, rtBefore = liveHeap(), runtimeOther()
		}
		d := heapDevice(i, mix)
		if d.hub != "" {
			if err := hub.Subscribe(d.hub); err != nil {
				b.Fatal(err)
			}
		}
		fd, err := rawDial(ap)
		if err != nil {
			b.Fatal(err)
		}
		fds = append(fds, fd)
		cp := connectSpec{id: d.id, clean: true, keepAlive: 30, user: "hub", pass: "mem-pass", will: &d.will}
		rawSend(b, fd, cp.packet())
		rawExpect(b, fd, 4)
		rawSend(b, fd, subscribePacket(1, 1, d.filters...))
		rawExpect(b, fd, 4+len(d.filters))
		var out []byte
		for _, r := range d.retained {
			out = append(out, publishPacket(r[0], r[1], 0, true, 0)...)
		}
		out = append(out, publishPacket(d.telemetry[0], d.telemetry[1], 0, false, 0)...)
		rawSend(b, fd, out)
	}
	waitTaken(b, br, heapDevices+4)
	after, rtAfter := liveHeap(), runtimeOther()
	if p := os.Getenv("BROKER_HEAPPROF"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}
	runtime.KeepAlive(br)
	runtime.KeepAlive(hub)
	return float64(after-before) / heapDevices, (float64(rtAfter) - float64(rtBefore)) / heapDevices
}

// runtimeOther is the Go runtime's memory that is neither heap nor stack
// nor its metadata about them: pollers' descriptors, finalizer and cleanup
// records, itabs.
func runtimeOther() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/other:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// waitTaken waits for the broker to have taken the messages of n
// devices.
func waitTaken(b *testing.B, br *Broker, n int) {
	deadline := time.Now().Add(30 * time.Second)
	for st := br.Stats(); st.Received < uint64(3*n) || st.Retained < 2*n; st = br.Stats() {
		if time.Now().After(deadline) {
			b.Fatalf("the broker took %d messages, retained %d", st.Received, st.Retained)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// liveHeap is the heap's live bytes after a collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// rawDial connects a blocking socket to a without the net package.
func rawDial(a *net.TCPAddr) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	tv := unix.Timeval{Sec: 10}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func rawSend(b testing.TB, fd int, p []byte) {
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if err != nil {
			b.Fatalf("write: %v", err)
		}
		p = p[n:]
	}
}

// rawExpect reads an n-byte reply.
func rawExpect(b testing.TB, fd int, n int) {
	buf := make([]byte, n)
	for got := 0; got < n; {
		m, err := unix.Read(fd, buf[got:])
		if err == nil && m == 0 {
			err = errors.New("closed")
		}
		if err != nil {
			b.Fatalf("reading a %d-byte reply: %v (got % x)", n, err, buf[:got])
		}
		got += m
	}
	if strings.HasPrefix(string(buf), "\x20\x02") && buf[3] != 0 {
		b.Fatalf("refused: % x", buf)
	}
}
