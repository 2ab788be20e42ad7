package web

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"
)

// clientFrom is an HTTP client whose connections come from ip; on Linux
// every 127.x.y.z address is this machine's loopback.
func clientFrom(t testing.TB, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second}
}

// browserFrom is a browser whose connections come from ip.
func browserFrom(t testing.TB, base, ip string) *browser {
	b := newBrowser(t, base)
	b.c = clientFrom(t, ip)
	return b
}

// floodLogins sends one malformed login from each of n distinct loopback
// addresses (127.1.0.1 on), as the probe did, and returns the status codes
// seen.
func floodLogins(t *testing.T, base string, n int) map[int]int {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	req := fmt.Sprintf("POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", host)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	const workers = 4
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				ip := net.IPv4(127, 1, byte(i/250), byte(i%250+1))
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
				conn, err := d.Dial("tcp", host)
				if err != nil {
					t.Error(err)
					return
				}
				fmt.Fprint(conn, req)
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				conn.Close()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return codes
}

// The probe's attack: rate-limit an address, then fill the limiter's table
// with 4,200 other addresses. The limited address must stay limited.
func TestLogin_AddressFlood_DoesNotRefreshALimitedAddress(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ts := newTestServer(t, Options{Now: clock.Now})
	attacker := browserFrom(t, ts.url, "127.0.0.9")
	for i := range 5 {
		if r := attacker.login(testUser, fmt.Sprint("guess-", i)); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, r.StatusCode)
		}
	}
	if r := attacker.login(testUser, "guess-6"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("sixth guess: %d, want 429", r.StatusCode)
	}
	codes := floodLogins(t, ts.url, 4200)
	if codes[http.StatusBadRequest] < 4096 {
		t.Fatalf("flood answers %v: want at least 4096 of them 400 (each address's first attempt)", codes)
	}
	if r := attacker.login(testUser, testPass); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("limited address after a 4,200-address flood: %d, want still 429", r.StatusCode)
	}
	if n := ts.limit.addrs.Evictions(); n == 0 {
		t.Fatal("the flood filled the table but no entry made room for a newcomer")
	}
	if n := ts.limit.addrs.Len(); n > 4096 {
		t.Fatalf("address table holds %d entries, bound 4096", n)
	}
	_, body := newBrowser(t, ts.url).do("GET", "/metrics", "", nil)
	if !strings.Contains(body, `hubd_web_login_limiter_overflows_total{table="addresses"}`) ||
		!strings.Contains(body, `hubd_web_login_refused_total{by="address"}`) {
		t.Fatal("/metrics lacks the login limiter's counters")
	}
	// Once the limited address's bucket refills (one attempt per 12 s)
	// and its share of the account (one failure per 2 minutes), the
	// legitimate user behind it gets in.
	clock.Add(2 * time.Minute)
	if r := attacker.login(testUser, testPass); r.StatusCode != http.StatusOK {
		t.Fatalf("after the refill: %d, want 200", r.StatusCode)
	}
}

// Guesses at one account from many addresses are limited by the account;
// another account, and the right password once the bucket refills, get
// through.
func TestLogin_ManyAddressesGuessingOneAccount_AreLimitedByAccount(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ts := newTestServer(t, Options{Now: clock.Now, LoginAccountBurst: 4, LoginAccountEvery: time.Minute,
		Users: []User{{Name: testUser, PasswordHash: testHash(t, testPass)}, {Name: "other", PasswordHash: testHash(t, "other-pass")}}})
	for i := range 4 {
		b := browserFrom(t, ts.url, fmt.Sprintf("127.2.0.%d", i+1))
		if r := b.login(testUser, "guess"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, r.StatusCode)
		}
	}
	fresh := browserFrom(t, ts.url, "127.2.0.50")
	r := fresh.login(testUser, testPass)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "60" {
		t.Fatalf("fifth attempt at the account from a fresh address: %d Retry-After %q, want 429 and 60",
			r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := browserFrom(t, ts.url, "127.2.0.51").login("other", "other-pass"); r.StatusCode != http.StatusOK {
		t.Fatalf("another account: %d, want 200", r.StatusCode)
	}
	// An unknown name is limited the same way, so the limiter does not
	// tell which names exist.
	for i := range 4 {
		browserFrom(t, ts.url, fmt.Sprintf("127.2.1.%d", i+1)).login("nobody", "guess")
	}
	if r := fresh.login("nobody", "guess"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fifth guess at an unknown name: %d, want 429 like a real one", r.StatusCode)
	}
	clock.Add(time.Minute)
	if r := fresh.login(testUser, testPass); r.StatusCode != http.StatusOK {
		t.Fatalf("after a minute, the right password: %d, want 200", r.StatusCode)
	}
}

// A technician who signs in often is not limited by the account bucket:
// only failures cost it.
func TestLogin_SuccessfulLoginsDoNotDrainTheAccount(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ts := newTestServer(t, Options{Now: clock.Now, LoginAccountBurst: 2})
	for i := range 6 {
		b := browserFrom(t, ts.url, fmt.Sprintf("127.3.0.%d", i+1))
		if r := b.login(testUser, testPass); r.StatusCode != http.StatusOK {
			t.Fatalf("login %d: %d, want 200", i+1, r.StatusCode)
		}
	}
}

// Every address of an IPv6 /64 shares one bucket; another /64 has its own.
// The addresses come through a trusted proxy, the only way to have many
// IPv6 clients on a loopback test.
func TestLogin_IPv6CountedPer64(t *testing.T) {
	ts := newTestServer(t, Options{LoginBurst: 3, LoginEvery: time.Hour, TrustedProxies: loopbackProxy()})
	b := newBrowser(t, ts.url)
	for i := range 3 {
		hdr := map[string]string{"X-Forwarded-For": fmt.Sprintf("2001:db8:1:2::%x", i+1)}
		if r, _ := b.do("POST", "/login", `{"user":"tech","password":"guess"}`, hdr); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, r.StatusCode)
		}
	}
	hdr := map[string]string{"X-Forwarded-For": "2001:db8:1:2:ffff:ffff:ffff:fffe"}
	if r, _ := b.do("POST", "/login", `{"user":"tech","password":"guess"}`, hdr); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth attempt from the same /64: %d, want 429", r.StatusCode)
	}
	hdr = map[string]string{"X-Forwarded-For": "2001:db8:1:3::1"}
	if r, _ := b.do("POST", "/login", `{"user":"tech","password":"`+testPass+`"}`, hdr); r.StatusCode != http.StatusOK {
		t.Fatalf("another /64: %d, want 200", r.StatusCode)
	}
}
