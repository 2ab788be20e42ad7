package hub_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"hubd/hub"
)

func lamp(id string) hub.Device {
	return hub.Device{ID: id, Name: id, Kind: hub.KindLight, Driver: "test",
		Fields: hub.LightFields, TempMinK: 2700, TempMaxK: 6500}
}

func socket(id string) hub.Device {
	return hub.Device{ID: id, Name: id, Kind: hub.KindSocket, Driver: "test",
		Fields: hub.MeterFields.With(hub.FieldOn)}
}

func demoSite() *hub.Site {
	return &hub.Site{Buildings: []*hub.Node{{
		ID: "house", Name: "Demo House", Kind: hub.NodeBuilding,
		Children: []*hub.Node{{
			ID: "f1", Name: "Floor 1", Kind: hub.NodeFloor,
			Children: []*hub.Node{{ID: "lobby", Name: "Lobby", Kind: hub.NodeRoom, Devices: []string{"lamp-1", "socket-1"}}},
		}},
	}}}
}

type memStore struct {
	mu   sync.Mutex
	data map[string]hub.Snapshot
}

func (m *memStore) Put(id string, s hub.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		m.data = map[string]hub.Snapshot{}
	}
	m.data[id] = s
}

func (m *memStore) LoadAll() (map[string]hub.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]hub.Snapshot{}
	for k, v := range m.data {
		out[k] = v
	}
	return out, nil
}

func newHub(t *testing.T, opts hub.Options) *hub.Hub {
	t.Helper()
	h, err := hub.New([]hub.Device{lamp("lamp-1"), socket("socket-1")}, demoSite(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestHub_Apply_KeepsLastValueAndStamps(t *testing.T) {
	h := newHub(t, hub.Options{})
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := h.Apply(hub.Report{Device: "lamp-1", At: at, State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: 40}}); err != nil {
		t.Fatal(err)
	}
	if err := h.Apply(hub.Report{Device: "lamp-1", At: at.Add(time.Second), State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 70}}); err != nil {
		t.Fatal(err)
	}
	_, s, ok := h.Snapshot("lamp-1")
	if !ok || !s.Online || !s.State.On || s.State.Brightness != 70 {
		t.Fatalf("snapshot = %+v", s)
	}
	if !s.State.Updated[hub.FieldOn].Time().Equal(at) || !s.State.Updated[hub.FieldBrightness].Time().Equal(at.Add(time.Second)) {
		t.Fatalf("timestamps = %v", s.State.Updated)
	}
	if !s.LastSeen.Equal(at.Add(time.Second)) {
		t.Fatalf("last seen = %v", s.LastSeen)
	}
}

func TestHub_Apply_RejectsUnknownAndInvalid(t *testing.T) {
	h := newHub(t, hub.Options{})
	if err := h.Apply(hub.Report{Device: "nope", State: hub.State{Set: hub.Fields(hub.FieldOn)}}); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
	err := h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 400}})
	if !errors.Is(err, hub.ErrInvalidValue) {
		t.Fatalf("invalid value: %v", err)
	}
	if _, s, _ := h.Snapshot("lamp-1"); s.State.Set.Has(hub.FieldBrightness) {
		t.Fatalf("invalid value was applied: %+v", s.State)
	}
	st := h.Stats()
	if st.Rejected["test"] != 1 || st.Rejected[""] != 1 {
		t.Fatalf("rejected = %v", st.Rejected)
	}
}

func TestHub_Apply_DropsFieldsTheDeviceLacks(t *testing.T) {
	h := newHub(t, hub.Options{})
	h.Apply(hub.Report{Device: "socket-1", State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: 5}})
	_, s, _ := h.Snapshot("socket-1")
	if s.State.Set.Has(hub.FieldBrightness) || !s.State.Set.Has(hub.FieldOn) {
		t.Fatalf("set = %v", s.State.Set)
	}
}

func TestHub_Subscribe_SeesOnlyChangedFields(t *testing.T) {
	h := newHub(t, hub.Options{})
	sub := h.Subscribe(16)
	h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: 10}})
	h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: 20}})
	var got []hub.FieldSet
	timeout := time.After(2 * time.Second)
	for len(got) < 2 {
		select {
		case c := <-sub.C:
			if c.Kind == hub.ChangeState {
				got = append(got, c.Fields)
			}
		case <-timeout:
			t.Fatalf("got %v", got)
		}
	}
	if got[0] != hub.Fields(hub.FieldOn, hub.FieldBrightness) || got[1] != hub.Fields(hub.FieldBrightness) {
		t.Fatalf("changed fields = %v", got)
	}
}

func TestHub_Subscribe_FullSubscriberNeverBlocksReports(t *testing.T) {
	h := newHub(t, hub.Options{})
	sub := h.Subscribe(1)
	for i := 0; i < 100; i++ {
		if err := h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: i % 100}}); err != nil {
			t.Fatal(err)
		}
	}
	if sub.Dropped() == 0 {
		t.Fatal("a full subscriber dropped nothing")
	}
}

func TestHub_Subscribe_KeepsOrderWhileTheQueueWrapsAndGrows(t *testing.T) {
	h := newHub(t, hub.Options{})
	sub := h.Subscribe(4096)
	next := func() int {
		t.Helper()
		timeout := time.After(2 * time.Second)
		for {
			select {
			case c := <-sub.C:
				if c.Kind == hub.ChangeState {
					return c.Snapshot.State.Brightness
				}
			case <-timeout:
				t.Fatal("no change within 2s")
			}
		}
	}
	// Five changes in, three out, so that the backlog creeps up while the
	// queue's head moves round: it wraps and grows many times over.
	var sent, got []int
	for i := range 600 {
		b := i % 101 // consecutive values differ: every report is a change
		if err := h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: b}}); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, b)
		if i%5 == 4 {
			for range 3 {
				got = append(got, next())
			}
		}
	}
	for len(got) < len(sent) {
		got = append(got, next())
	}
	for i := range sent {
		if got[i] != sent[i] {
			t.Fatalf("change %d: brightness %d, want %d (got %v)", i, got[i], sent[i], got[max(0, i-3):i+1])
		}
	}
	if d := sub.Dropped(); d != 0 {
		t.Fatalf("dropped %d changes with room to spare", d)
	}
}

func TestHub_Execute_WaitsForEcho(t *testing.T) {
	h := newHub(t, hub.Options{CommandTimeout: time.Second})
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline})
	h.SetDriver("test", hub.DriverFunc(func(ctx context.Context, d hub.Device, c hub.Command) error {
		go func() {
			time.Sleep(20 * time.Millisecond)
			st := c.Set
			if st.Set.Has(hub.FieldTemperatureK) {
				st.TemperatureK += 12 // a device rounding through mireds
			}
			h.Apply(hub.Report{Device: d.ID, State: st})
		}()
		return nil
	}))
	err := h.Execute(context.Background(), hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldTemperatureK), On: true, TemperatureK: 4000}})
	if err != nil {
		t.Fatal(err)
	}
	_, s, _ := h.Snapshot("lamp-1")
	if !s.State.On {
		t.Fatal("state not updated")
	}
}

func TestHub_Execute_UnconfirmedIsUnreachable(t *testing.T) {
	h := newHub(t, hub.Options{CommandTimeout: 100 * time.Millisecond})
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline})
	h.SetDriver("test", hub.DriverFunc(func(ctx context.Context, d hub.Device, c hub.Command) error { return nil }))
	err := h.Execute(context.Background(), hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}})
	if !errors.Is(err, hub.ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
	if st := h.Stats(); st.Commands[[2]string{"test", "unreachable"}] != 1 {
		t.Fatalf("commands = %v", st.Commands)
	}
}

func TestHub_Execute_ChecksCapabilitiesAndRanges(t *testing.T) {
	h := newHub(t, hub.Options{})
	h.Apply(hub.Report{Device: "socket-1", Avail: hub.AvailOnline})
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline})
	h.SetDriver("test", hub.DriverFunc(func(ctx context.Context, d hub.Device, c hub.Command) error {
		t.Error("driver called for a bad command")
		return nil
	}))
	cases := []struct {
		cmd  hub.Command
		want error
	}{
		{hub.Command{Device: "socket-1", Set: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 5}}, hub.ErrNotSupported},
		{hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldTemperatureK), TemperatureK: 9000}}, hub.ErrInvalidValue},
		{hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: -1}}, hub.ErrInvalidValue},
		{hub.Command{Device: "ghost", Set: hub.State{Set: hub.Fields(hub.FieldOn)}}, hub.ErrNotFound},
	}
	for _, c := range cases {
		if err := h.Execute(context.Background(), c.cmd); !errors.Is(err, c.want) {
			t.Errorf("%+v: err = %v, want %v", c.cmd, err, c.want)
		}
	}
}

func TestHub_Execute_OfflineDeviceIsUnreachable(t *testing.T) {
	h := newHub(t, hub.Options{})
	h.SetDriver("test", hub.DriverFunc(func(ctx context.Context, d hub.Device, c hub.Command) error { return nil }))
	h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldOn)}})
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOffline})
	err := h.Execute(context.Background(), hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}})
	if !errors.Is(err, hub.ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
}

func TestHub_Stale_AnnouncedAfterSilence(t *testing.T) {
	h := newHub(t, hub.Options{StaleAfter: 100 * time.Millisecond})
	sub := h.Subscribe(64)
	h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldOn), On: true}})
	deadline := time.After(3 * time.Second)
	for {
		select {
		case c := <-sub.C:
			if c.Kind == hub.ChangeOnline && c.Device == "lamp-1" && !h.Reachable(&c.Snapshot) {
				return
			}
		case <-deadline:
			t.Fatal("no stale announcement")
		}
	}
}

func TestHub_New_LoadsSavedState(t *testing.T) {
	st := &memStore{}
	h1 := newHub(t, hub.Options{Store: st})
	h1.Apply(hub.Report{Device: "socket-1", State: hub.State{Set: hub.Fields(hub.FieldPower), Power: 42.5}})
	h1.Close()
	h2 := newHub(t, hub.Options{Store: st})
	_, s, _ := h2.Snapshot("socket-1")
	if s.State.Power != 42.5 {
		t.Fatalf("power = %v", s.State.Power)
	}
}

func TestHub_Reconfigure_KeepsStateRejectsBadSite(t *testing.T) {
	h := newHub(t, hub.Options{})
	h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldOn), On: true}})
	bad := demoSite()
	bad.Buildings[0].Children[0].Children[0].Devices = append(bad.Buildings[0].Children[0].Children[0].Devices, "ghost")
	if err := h.Reconfigure([]hub.Device{lamp("lamp-1"), socket("socket-1")}, bad); !errors.Is(err, hub.ErrInvalidSite) {
		t.Fatalf("err = %v", err)
	}
	if err := h.Reconfigure([]hub.Device{lamp("lamp-1")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := h.Snapshot("socket-1"); ok {
		t.Fatal("removed device still present")
	}
	if _, s, _ := h.Snapshot("lamp-1"); !s.State.On {
		t.Fatal("state lost on reconfigure")
	}
}

func TestSite_Validate(t *testing.T) {
	deep := &hub.Node{ID: "n0", Name: "n0"}
	cur := deep
	for i := 1; i <= hub.MaxSiteDepth; i++ {
		n := &hub.Node{ID: "n" + string(rune('a'+i)), Name: "x"}
		cur.Children = []*hub.Node{n}
		cur = n
	}
	dup := demoSite()
	dup.Buildings[0].Children[0].ID = "house"
	twice := demoSite()
	twice.Buildings[0].Children[0].Devices = []string{"lamp-1"}
	cases := map[string]*hub.Site{
		"too deep":        {Buildings: []*hub.Node{deep}},
		"duplicate id":    dup,
		"device in two":   twice,
		"node without id": {Buildings: []*hub.Node{{Name: "x"}}},
	}
	for name, s := range cases {
		if err := s.Validate(nil); !errors.Is(err, hub.ErrInvalidSite) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if err := demoSite().Validate(nil); err != nil {
		t.Fatal(err)
	}
	room, path := demoSite().RoomOf("socket-1")
	if room == nil || room.Name != "Lobby" || len(path) != 3 {
		t.Fatalf("room = %v path = %d", room, len(path))
	}
}

func TestHub_DeviceAt_FollowsReconfigure(t *testing.T) {
	a, b := lamp("a"), lamp("b")
	a.Driver, a.Address = "mqtt", "tasmota:lamp-a"
	b.Driver, b.Address = "serial", "bus0/2"
	h, err := hub.New([]hub.Device{a, b}, nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if d, ok := h.DeviceAt("mqtt", "tasmota:lamp-a"); !ok || d.ID != "a" {
		t.Errorf("DeviceAt(mqtt, tasmota:lamp-a) = %q, %v; want a", d.ID, ok)
	}
	if _, ok := h.DeviceAt("serial", "tasmota:lamp-a"); ok {
		t.Error("an address found under another driver")
	}
	a.Address = "tasmota:lamp-a2"
	if err := h.Reconfigure([]hub.Device{a, b}, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.DeviceAt("mqtt", "tasmota:lamp-a"); ok {
		t.Error("the old address still names the device after a reload")
	}
	if d, ok := h.DeviceAt("mqtt", "tasmota:lamp-a2"); !ok || d.ID != "a" {
		t.Errorf("DeviceAt(mqtt, tasmota:lamp-a2) = %q, %v; want a", d.ID, ok)
	}
	if d, ok := h.DeviceAt("serial", "bus0/2"); !ok || d.ID != "b" {
		t.Errorf("DeviceAt(serial, bus0/2) = %q, %v; want b", d.ID, ok)
	}
}
