package alexa

import (
	"slices"
	"time"

	"hubd/hub"
	"net/http"
	"net/http/httptest"
	"testing"
)

func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

type nodeT = hub.Node

func sortDurations(d []time.Duration) { slices.Sort(d) }
