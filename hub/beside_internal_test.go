package hub

import (
	"context"
	"testing"
	"time"
)

// besideKeys is how many devices have a key in the maps beside the entries.
func besideKeys(h *Hub) (waiters, clashes int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.waiters), len(h.clashes)
}

// What lives beside the entries keeps a device's key only while the device
// has something there: a command confirmed, a command that timed out, a
// disagreement resolved and a device removed each leave none behind.
func TestHub_Beside_KeepsNoKeyOfADeviceWithNothing(t *testing.T) {
	lamp := Device{ID: "lamp", Kind: KindLight, Driver: "test", Fields: Fields(FieldOn), Pinned: PinFields}
	h, err := New([]Device{lamp}, nil, Options{CommandTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	confirm := true
	h.SetDriver("test", DriverFunc(func(ctx context.Context, d Device, c Command) error {
		if confirm {
			h.Apply(Report{Device: d.ID, State: c.Set})
		}
		return nil
	}))
	on := Command{Device: "lamp", Set: State{Set: Fields(FieldOn), On: true}}
	h.Apply(Report{Device: "lamp", Avail: AvailOnline})
	if err := h.Execute(context.Background(), on); err != nil {
		t.Fatal(err)
	}
	if w, _ := besideKeys(h); w != 0 {
		t.Fatalf("%d devices keep waiters after a confirmed command", w)
	}
	confirm = false
	if err := h.Execute(context.Background(), on); err == nil {
		t.Fatal("an unconfirmed command succeeded")
	}
	if w, _ := besideKeys(h); w != 0 {
		t.Fatalf("%d devices keep waiters after a command timed out", w)
	}

	h.Apply(Report{Device: "lamp", Caps: &Caps{Fields: Fields(FieldOn, FieldBrightness)}})
	if _, c := besideKeys(h); c != 1 {
		t.Fatalf("%d devices keep a clash after one disagreed, want 1", c)
	}
	h.Apply(Report{Device: "lamp", Caps: &Caps{Fields: Fields(FieldOn)}})
	if _, c := besideKeys(h); c != 0 {
		t.Fatalf("%d devices keep a clash after the device agreed", c)
	}
	h.Apply(Report{Device: "lamp", Caps: &Caps{Fields: Fields(FieldOn, FieldBrightness)}})
	h.mu.Lock()
	h.addWaiter("lamp", &waiter{want: on.Set, done: make(chan struct{})})
	h.mu.Unlock()
	if w, c := besideKeys(h); w != 1 || c != 1 {
		t.Fatalf("%d waiting and %d clashing devices, want 1 and 1", w, c)
	}
	other := Device{ID: "other", Kind: KindSocket, Driver: "test", Fields: Fields(FieldOn)}
	if err := h.Reconfigure([]Device{other}, nil); err != nil {
		t.Fatal(err)
	}
	if w, c := besideKeys(h); w != 0 || c != 0 {
		t.Fatalf("%d waiting and %d clashing devices after the device was removed", w, c)
	}
}
