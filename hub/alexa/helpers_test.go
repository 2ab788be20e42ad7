package alexa

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hubd/hub"
	"hubd/hub/alexa/alexatest"
)

// syncedBuffer collects log output safely across goroutines.
type syncedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a simulator plus options pointing at it.
type fixture struct {
	srv  *alexatest.Server
	kv   *MemKV
	logs *syncedBuffer
	opts Options
}

func newFixture(t testing.TB, so alexatest.Options) *fixture {
	t.Helper()
	srv := alexatest.New(so)
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, kv: NewMemKV(), logs: &syncedBuffer{}}
	f.opts = Options{
		APIBase:             srv.URL(),
		TokenURL:            srv.TokenURL(),
		ClientID:            alexatest.DemoClientID,
		ClientSecret:        alexatest.DemoClientSecret,
		RefreshToken:        alexatest.DemoRefreshToken,
		ParentID:            alexatest.DemoOrg,
		SkillID:             alexatest.DemoSkill,
		SubscriptionSkillID: alexatest.DemoSubscriptionSkill,
		KV:                  f.kv,
		Logger:              slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RetryBase:           time.Millisecond,
		RatePerSecond:       -1,
		DiscoveryPoll:       time.Millisecond,
		CallTimeout:         5 * time.Second,
	}
	return f
}

func (f *fixture) syncer(t testing.TB, site *hub.Site) *Syncer {
	t.Helper()
	s, err := New(site, f.opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func mustSync(t testing.TB, s *Syncer) Result {
	t.Helper()
	res, err := s.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync: %v\nplan:\n%s", err, res.Plan)
	}
	return res
}

// buildSite returns one building with floors x rooms, each room holding
// one device.
func buildSite(floors, rooms int) *hub.Site {
	return gridSite("bldg", "Main Building", floors, rooms, func(f, r int) *hub.Node {
		id := fmt.Sprintf("f%d-r%d", f, r)
		return &hub.Node{ID: id, Name: fmt.Sprintf("Room %d%02d", f, r), Kind: hub.NodeRoom, Devices: []string{"dev-" + id}}
	})
}

// gridSite returns one building of floors, each holding perFloor nodes
// made by node(floor, n), both counted from 1.
func gridSite(id, name string, floors, perFloor int, node func(f, n int) *hub.Node) *hub.Site {
	b := &hub.Node{ID: id, Name: name, Kind: hub.NodeBuilding}
	for f := 1; f <= floors; f++ {
		fl := &hub.Node{ID: fmt.Sprintf("f%d", f), Name: fmt.Sprintf("Floor %d", f), Kind: hub.NodeFloor}
		for n := 1; n <= perFloor; n++ {
			fl.Children = append(fl.Children, node(f, n))
		}
		b.Children = append(b.Children, fl)
	}
	return &hub.Site{Buildings: []*hub.Node{b}}
}

// sitePaths renders a site the way alexatest.Server.Paths renders units.
func sitePaths(site *hub.Site) []string {
	var out []string
	var walk func(n *hub.Node, prefix string)
	walk = func(n *hub.Node, prefix string) {
		p := prefix + n.Name
		out = append(out, p)
		for _, c := range n.Children {
			walk(c, p+"/")
		}
	}
	for _, b := range site.Buildings {
		walk(b, "")
	}
	slices.Sort(out)
	return out
}

func samePaths(t testing.TB, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("remote tree differs from site:\n got %d: %s\nwant %d: %s", len(got), strings.Join(got, ", "), len(want), strings.Join(want, ", "))
	}
}
