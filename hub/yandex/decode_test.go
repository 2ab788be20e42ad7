package yandex

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var queryTests = []struct {
	name string
	body string
	ids  []string // nil with wantErr
	err  bool
}{
	{"spec example", `{"devices":[{"id":"abc-123","custom_data":{"foo":1,"bar":"two","baz":false,"qux":[1,"two",false],"quux":{"quuz":{"corge":[]}}}},{"id":"sock-56GF-3"}]}`, []string{"abc-123", "sock-56GF-3"}, false},
	{"empty list", `{"devices":[]}`, []string{}, false},
	{"spaces", " \n{ \"devices\" : [ { \"id\" : \"a\" } ] } \t", []string{"a"}, false},
	{"escaped id", `{"devices":[{"id":"a\"b\u00e9\/c"}]}`, []string{"a\"bé/c"}, false},
	{"utf-8 id", `{"devices":[{"id":"лампа"}]}`, []string{"лампа"}, false},
	{"unknown keys", `{"x":{"y":[1.5e3,-0,true,null]},"devices":[{"custom_data":"s","id":"a","z":1}]}`, []string{"a"}, false},
	{"devices twice", `{"devices":[{"id":"a"}],"devices":[{"id":"b"}]}`, nil, true},
	{"id twice", `{"devices":[{"id":"a","id":"b"}]}`, nil, true},
	{"no devices", `{}`, nil, true},
	{"devices null", `{"devices":null}`, nil, true},
	{"id missing", `{"devices":[{}]}`, nil, true},
	{"id a number", `{"devices":[{"id":1}]}`, nil, true},
	{"truncated", `{"devices":[{"id":"a"`, nil, true},
	{"truncated string", `{"devices":[{"id":"a`, nil, true},
	{"bad escape", `{"devices":[{"id":"a\q"}]}`, nil, true},
	{"bad number", `{"devices":[{"id":"a","n":01}]}`, nil, true},
	{"bad literal", `{"devices":[{"id":"a","n":tru}]}`, nil, true},
	{"trailing comma", `{"devices":[{"id":"a"},]}`, nil, true},
	{"control char", "{\"devices\":[{\"id\":\"a\x01\"}]}", nil, true},
	{"trailing data", `{"devices":[]} {}`, nil, true},
	{"array", `[]`, nil, true},
	{"empty", ``, nil, true},
	{"too deep", `{"devices":[{"id":"a","c":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70) + `}]}`, nil, true},
}

func TestDecodeQuery_Table(t *testing.T) {
	for _, tt := range queryTests {
		t.Run(tt.name, func(t *testing.T) {
			ids, err := decodeQuery([]byte(tt.body), nil, &idRun{})
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ids == nil {
				ids = []string{}
			}
			if !reflect.DeepEqual(ids, tt.ids) {
				t.Errorf("ids = %q, want %q", ids, tt.ids)
			}
		})
	}
}

// The scratch space a call keeps for the next body is not where the ids
// live: ids read earlier stay as they were.
func TestDecodeQuery_IdsOutliveTheScratch(t *testing.T) {
	var run idRun
	first, err := decodeQuery([]byte(`{"devices":[{"id":"lamp-1"},{"id":"socket-\u0032"}]}`), nil, &run)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeQuery([]byte(`{"devices":[{"id":"XXXXXXXX"},{"id":"YYYYYYYYYY"}]}`), nil, &run); err != nil {
		t.Fatal(err)
	}
	if want := []string{"lamp-1", "socket-2"}; !reflect.DeepEqual(first, want) {
		t.Fatalf("ids of the first body after the second was read: %q, want %q", first, want)
	}
}

// A body that fails part way gives the ids of the devices read whole
// before the failure (the request's log counts them), not the failed
// device's, and the error names the device by its place.
func TestDecodeQuery_FailureKeepsTheDevicesBefore(t *testing.T) {
	for _, body := range []string{
		`{"devices":[{"id":"a"},{"id":"b"},{"id":"c","id":"d"}]}`,
		`{"devices":[{"id":"a"},{"id":"b"},{"id":"c","x":tru}]}`,
		`{"devices":[{"id":"a"},{"id":"b"},{"x":1,"id":"c","id":"d"}]}`,
		`{"devices":[{"id":"a"},{"id":"b"},{}]}`,
	} {
		ids, err := decodeQuery([]byte(body), nil, &idRun{})
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: err %v, want ErrMalformed", body, err)
		}
		if !reflect.DeepEqual(ids, []string{"a", "b"}) {
			t.Errorf("%s: ids %q, want [a b]", body, ids)
		}
		if strings.Contains(err.Error(), "device") && !strings.Contains(err.Error(), "device 3") {
			t.Errorf("%s: %v does not name device 3", body, err)
		}
	}
}

// referenceQuery decodes a query body with encoding/json under the same
// rules: exact key names.
func referenceQuery(body []byte) ([]string, bool) {
	var top any
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, false
	}
	m, ok := top.(map[string]any)
	if !ok {
		return nil, false
	}
	list, ok := m["devices"].([]any)
	if !ok {
		return nil, false
	}
	ids := []string{}
	for _, d := range list {
		dm, ok := d.(map[string]any)
		if !ok {
			return nil, false
		}
		id, ok := dm["id"].(string)
		if !ok {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}

// hasDupKeys reports whether any object in a valid JSON text repeats a key.
func hasDupKeys(body []byte) bool {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	var walk func() bool
	walk = func() bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			keys := map[string]bool{}
			for dec.More() {
				k, _ := dec.Token()
				ks, _ := k.(string)
				if keys[ks] || walk() {
					return true
				}
				keys[ks] = true
			}
			dec.Token()
		case json.Delim('['):
			for dec.More() {
				if walk() {
					return true
				}
			}
			dec.Token()
		}
		return false
	}
	return walk()
}

func FuzzDecodeQuery(f *testing.F) {
	for _, tt := range queryTests {
		f.Add([]byte(tt.body))
	}
	run := &idRun{} // kept from body to body, as a request's call keeps it
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, err := decodeQuery(body, nil, run)
		want, ok := referenceQuery(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			// The scanner refuses more than encoding/json only for depth
			// and repeated keys.
			if ok && !strings.Contains(err.Error(), "nested") && !hasDupKeys(body) {
				t.Fatalf("scanner refused a body encoding/json reads as %q: %v", want, err)
			}
			return
		}
		if !ok {
			t.Fatalf("scanner accepted %q as %q; encoding/json refuses it", body, ids)
		}
		if ids == nil {
			ids = []string{}
		}
		if !reflect.DeepEqual(ids, want) {
			t.Fatalf("ids %q, encoding/json says %q", ids, want)
		}
	})
}

var actionSeeds = []string{
	actionBody,
	`{"payload":{"devices":[]}}`,
	`{"payload":{"devices":[{"id":"lamp-1","capabilities":[{"type":"devices.capabilities.color_setting","state":{"instance":"rgb","value":720711}}]}]}}`,
	`{"payload":{"devices":[{"id":"lamp-1","capabilities":[{"type":"devices.capabilities.color_setting","state":{"instance":"hsv","value":{"h":400,"s":1,"v":1}}}]}]}}`,
	`{"payload":{"devices":[{"id":"lamp-2","capabilities":[{"type":"devices.capabilities.range","state":{"instance":"brightness","value":1e400,"relative":true}}]}]}}`,
	`{"payload":{"devices":[{"id":""}]}}`,
	`{"payload":null}`,
	`{"payload":{"devices":[{"id":"lamp-1","capabilities":[{"type":"devices.capabilities.color_setting","state":{"instance":"temperature_k","value":-5}}]}]}}`,
}

func TestDecodeAction_Table(t *testing.T) {
	tests := []struct {
		body string
		n    int
		err  bool
	}{
		{actionSeeds[1], 0, false},
		{actionSeeds[2], 1, false},
		{actionSeeds[5], 0, true},
		{actionSeeds[6], 0, true},
		{`{}`, 0, true},
		{`{"payload":{"devices":{}}}`, 0, true},
		{`{"payload":{"devices":[{"id":"a","capabilities":[{"type":1}]}]}}`, 0, true},
	}
	for _, tt := range tests {
		devs, err := decodeAction([]byte(tt.body))
		if (err != nil) != tt.err || len(devs) != tt.n {
			t.Errorf("%s: %d devices, err %v", tt.body, len(devs), err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v is not ErrMalformed", tt.body, err)
		}
	}
}

// FuzzPlanAction runs arbitrary action bodies through decoding and
// planning against the demo hub: every outcome is an error value, never a
// panic, and every planned command passes the hub's own validation.
func FuzzPlanAction(f *testing.F) {
	for _, s := range actionSeeds {
		f.Add([]byte(s))
	}
	fx := newFixture(f, Options{})
	f.Fuzz(func(t *testing.T, body []byte) {
		devs, err := decodeAction(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		for _, d := range devs {
			p := fx.api.plan(d, staff)
			if !p.run {
				continue
			}
			if err := p.cmd.Set.Validate(); err != nil {
				t.Fatalf("planned an invalid command %+v: %v", p.cmd.Set, err)
			}
			dev, _ := fx.hub.Device(d.ID)
			if missing := p.cmd.Set.Set.Minus(dev.Fields); !missing.Empty() {
				t.Fatalf("planned unsupported fields %s", missing)
			}
		}
	})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x1f\n\t\r", "\u2028\u2029", "\xff\xfe", "лампа"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); got != want && utf8.ValidString(s) {
			t.Fatalf("round trip %q -> %q", s, got)
		}
	})
}
