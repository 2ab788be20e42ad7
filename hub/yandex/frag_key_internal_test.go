package yandex

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"hubd/hub"
)

// A query's ids are views of one string of them all; the cache of answers
// keys each device by a copy of its own, so a cached answer does not hold
// the whole request's ids (up to MaxBody of them) for as long as it stays.
func TestQuery_CachedAnswersKeyByTheirOwnId(t *testing.T) {
	var devs []hub.Device
	var body strings.Builder
	body.WriteString(`{"devices":[`)
	for i := 0; i < 20; i++ {
		// 25 bytes: views of one string lie 25 bytes apart, copies in
		// 32-byte slots.
		id := fmt.Sprintf("floor-3-room-301-lamp-%03d", i)
		devs = append(devs, hub.Device{ID: id, Name: id, Kind: hub.KindLight, Driver: "test", Fields: hub.LightFields, TempMinK: 2700, TempMaxK: 6500})
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"id":%q}`, id)
	}
	body.WriteString(`]}`)
	h, err := hub.New(devs, nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	api, err := New(h, Options{Users: []User{{ID: "u", TokenHashes: []string{HashToken("t")}, Scope: staff}}})
	if err != nil {
		t.Fatal(err)
	}
	queryAPI(t, api, []byte(body.String()))
	ends := map[uintptr]string{} // where each key's bytes end
	var keys []string
	api.frags.Range(func(k, _ any) bool {
		s := k.(string)
		keys = append(keys, s)
		ends[uintptr(unsafe.Pointer(unsafe.StringData(s)))+uintptr(len(s))] = s
		return true
	})
	if len(keys) != len(devs) {
		t.Fatalf("%d answers cached, want %d", len(keys), len(devs))
	}
	for _, k := range keys {
		if prev, ok := ends[uintptr(unsafe.Pointer(unsafe.StringData(k)))]; ok {
			t.Fatalf("the cached key %q starts where %q ends: both are views of the request's ids", k, prev)
		}
	}
}
