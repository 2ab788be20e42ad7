package web

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// rawGet fetches path with the Accept-Encoding and Range given, without
// the transport's own decompression.
func rawGet(t *testing.T, url, accept, rng string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCompress_AssetsAndJSONGzippedOnlyWhenAccepted(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	want, _ := assets.ReadFile("assets/app.js")
	for _, c := range []struct {
		accept string
		gz     bool
	}{{"gzip, deflate, br", true}, {"GZIP", true}, {"br;q=1, gzip;q=0.5", true}, {"", false}, {"gzip;q=0", false}, {"deflate", false}} {
		resp, body := rawGet(t, ts.url+"/assets/app.js", c.accept, "")
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != c.gz {
			t.Fatalf("Accept-Encoding %q: gzip %v, want %v", c.accept, got, c.gz)
		}
		if c.gz {
			body = gunzip(t, body)
		}
		if string(body) != string(want) {
			t.Fatalf("Accept-Encoding %q: %d bytes differ from app.js", c.accept, len(body))
		}
		if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
			t.Fatal("no Vary: Accept-Encoding")
		}
	}
	resp, body := rawGet(t, ts.url+"/api/devices?limit=2", "gzip", "")
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(string(gunzip(t, body)), `"total":5`) {
		t.Fatalf("/api/devices: %q %q", resp.Header.Get("Content-Encoding"), body)
	}
	// A range is served as it is, not as a slice of compressed bytes.
	resp, body = rawGet(t, ts.url+"/assets/app.js", "gzip", "bytes=0-9")
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Encoding") != "" || string(body) != string(want[:10]) {
		t.Fatalf("range: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
	}
}

// The live feed is compressed too, and each event is flushed through the
// compressor as it goes: the snapshot arrives whole without waiting.
func TestCompress_LiveFeedFlushesEachEvent(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	req, _ := http.NewRequest("GET", ts.url+"/events", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("feed Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), `"feed":`) {
			return
		}
	}
	t.Fatalf("no snapshot through the compressed feed: %v", sc.Err())
}

// openFeed opens /events taking gzip and reports whether it came
// compressed; the stream stays open until cancel.
func openFeed(t *testing.T, url string) (gz bool, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/events", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp.Header.Get("Content-Encoding") == "gzip", func() { cancel(); resp.Body.Close() }
}

// Each compressed answer holds a gzip writer of about 0.8 MB, a live feed
// for as long as it is open: MaxCompressed bounds them, feeds take at
// most half, and what finds none free goes out plain and is counted.
func TestCompress_WritersBounded(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true, MaxCompressed: 2})
	first, stop := openFeed(t, ts.url)
	if !first {
		t.Fatal("the first feed was not compressed")
	}
	if second, _ := openFeed(t, ts.url); second {
		t.Fatal("a second feed was compressed beyond half of MaxCompressed 2")
	}
	if got := ts.gzip.skipped.Load(); got != 1 {
		t.Fatalf("%d answers counted as sent plain, want 1", got)
	}
	resp, body := rawGet(t, ts.url+"/api/devices?limit=2", "gzip", "")
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(string(gunzip(t, body)), `"total":5`) {
		t.Fatalf("JSON while a feed holds a writer: %q", resp.Header.Get("Content-Encoding"))
	}
	stop()
	waitFor(t, "the closed feed's writer to come back", func() bool { return len(ts.gzip.streams) == 0 })
	if again, _ := openFeed(t, ts.url); !again {
		t.Fatal("a feed opened after the first closed was not compressed")
	}
}
