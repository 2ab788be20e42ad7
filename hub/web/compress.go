package web

import (
	"compress/gzip"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// The page, its assets, its JSON and its live feed are sent gzip-compressed
// to a client that accepts it: a phone on the building's Wi-Fi loads the
// page of a 10,000-device gateway in tens of kilobytes, not hundreds.

// compressible are the content types worth compressing.
var compressible = map[string]bool{
	"text/html": true, "text/css": true, "text/javascript": true, "application/javascript": true,
	"application/json": true, "text/event-stream": true, "text/plain": true, "image/svg+xml": true,
}

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
	return w
}}

// acceptsGzip reports whether r's Accept-Encoding takes gzip (a q=0 refuses it).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// gzipSlots bounds the gzip writers in use at once (Options.MaxCompressed):
// each holds about 0.8 MB while its answer is written, and a live-feed
// stream holds one for as long as it is open. Live feeds may take half of
// them, so JSON and assets still get some; an answer that finds none free
// goes out as it is, and is counted.
type gzipSlots struct {
	all, streams chan struct{}
	skipped      atomic.Uint64
}

func newGzipSlots(n int) *gzipSlots {
	return &gzipSlots{all: make(chan struct{}, n), streams: make(chan struct{}, max(n/2, 1))}
}

// take reports whether a writer may be used now; a true must be returned
// with give.
func (g *gzipSlots) take(stream bool) bool {
	if stream {
		select {
		case g.streams <- struct{}{}:
		default:
			g.skipped.Add(1)
			return false
		}
	}
	select {
	case g.all <- struct{}{}:
		return true
	default:
		if stream {
			<-g.streams
		}
		g.skipped.Add(1)
		return false
	}
}

func (g *gzipSlots) give(stream bool) {
	<-g.all
	if stream {
		<-g.streams
	}
}

// compress wraps h so that compressible answers go out gzipped to clients
// that take it, while slots has a writer free. Range requests are served
// as they are.
func compress(h http.Handler, slots *gzipSlots) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r) || r.Header.Get("Range") != "" || r.Method == http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		gw := &gzipWriter{ResponseWriter: w, slots: slots}
		defer gw.close()
		h.ServeHTTP(gw, r)
	})
}

// gzipWriter decides at WriteHeader whether the answer is compressed.
type gzipWriter struct {
	http.ResponseWriter
	slots       *gzipSlots
	gz          *gzip.Writer
	stream      bool // the slot taken is a live feed's
	wroteHeader bool
}

func (g *gzipWriter) WriteHeader(code int) {
	if g.wroteHeader {
		return
	}
	g.wroteHeader = true
	h := g.Header()
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if compressible[mt] && h.Get("Content-Encoding") == "" && code != http.StatusNoContent && code != http.StatusNotModified && code >= 200 &&
		g.slots.take(mt == "text/event-stream") {
		g.stream = mt == "text/event-stream"
		h.Del("Content-Length")
		h.Set("Content-Encoding", "gzip")
		g.gz = gzipPool.Get().(*gzip.Writer)
		g.gz.Reset(g.ResponseWriter)
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.wroteHeader {
		if g.Header().Get("Content-Type") == "" {
			g.Header().Set("Content-Type", http.DetectContentType(b))
		}
		g.WriteHeader(http.StatusOK)
	}
	if g.gz != nil {
		return g.gz.Write(b)
	}
	return g.ResponseWriter.Write(b)
}

// Flush sends what is compressed so far: the live feed flushes each event.
func (g *gzipWriter) Flush() { g.FlushError() }

// FlushError is Flush for http.ResponseController, with the error.
func (g *gzipWriter) FlushError() error {
	if g.gz != nil {
		if err := g.gz.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(g.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (g *gzipWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func (g *gzipWriter) close() {
	if g.gz == nil {
		return
	}
	g.gz.Close()
	g.gz.Reset(io.Discard)
	gzipPool.Put(g.gz)
	g.gz = nil
	g.slots.give(g.stream)
}
