//go:build linux

package broker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
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
// holds per connected device: heapDevices devices, each as a gateway's
// Tasmota plug is (a retained will, one filter, a retained "Online" and
// a retained discovery message, a telemetry message), with the hub
// listening in process under "tele/#" and "tasmota/#". The devices are
// raw sockets driven by system calls, so they put nothing of their own
// on the Go heap: the figure is the broker's alone (its retained
// messages included).
func BenchmarkBroker_HeapPerConnection(b *testing.B) {
	for _, goroutines := range []bool{false, true} {
		name := "epoll"
		if goroutines {
			name = "goroutine"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				per := heapPerConnection(b, goroutines)
				b.ReportMetric(per, "B/conn")
			}
		})
	}
}

func heapPerConnection(b *testing.B, goroutines bool) float64 {
	br, err := New(Options{Listen: "127.0.0.1:0", GoroutinePerConn: goroutines, MaxConnections: heapDevices + 10, MaxClients: heapDevices + 10})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = br.Serve() }()
	defer br.Close()
	hub := br.NewLocal(func(string, []byte) {})
	for _, f := range []string{"tele/#", "tasmota/#", "stat/#"} {
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
	discovery := `{"ip":"192.0.2.20","dn":"Plug","fn":["Plug-1",null,null,null],"hn":"%s","mac":"%s","md":"Sonoff S31","ty":0,"if":0,` +
		`"ofln":"Offline","onln":"Online","state":["OFF","ON","TOGGLE","HOLD"],"sw":"13.4.0","t":"%[1]s","ft":"%%prefix%%/%%topic%%/","tp":["cmnd","stat","tele"]}`
	var before uint64
	for i := range heapDevices + 1 {
		if i == 1 {
			// The first device has the broker make what it makes once
			// (the epoll reader's buffer, the tree's first levels).
			waitTaken(b, br, 1)
			before = liveHeap()
		}
		name, mac := fmt.Sprintf("tasmota_%06X", i), fmt.Sprintf("A0B1C2%06X", i)
		fd, err := rawDial(ap)
		if err != nil {
			b.Fatal(err)
		}
		fds = append(fds, fd)
		lwt := "tele/" + name + "/LWT"
		cp := connectSpec{id: "DVES_" + mac[6:], clean: true, keepAlive: 30, user: "hub", pass: "mem-pass",
			will: &Message{Topic: lwt, Payload: []byte("Offline"), QoS: 1, Retain: true}}
		rawSend(b, fd, cp.packet())
		rawExpect(b, fd, 4)
		rawSend(b, fd, subscribePacket(1, 1, "cmnd/"+name+"/+"))
		rawExpect(b, fd, 5)
		var out []byte
		out = append(out, publishPacket(lwt, "Online", 0, true, 0)...)
		out = append(out, publishPacket("tasmota/discovery/"+mac+"/config", fmt.Sprintf(discovery, name, mac), 0, true, 0)...)
		out = append(out, publishPacket("tele/"+name+"/STATE", `{"Time":"2026-12-07T09:00:00","POWER":"ON","Wifi":{"RSSI":80}}`, 0, false, 0)...)
		rawSend(b, fd, out)
	}
	waitTaken(b, br, heapDevices+1)
	after := liveHeap()
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
	return float64(after-before) / heapDevices
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
