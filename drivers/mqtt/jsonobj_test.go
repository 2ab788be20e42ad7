package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// refObject is what object did before jsonObject: encoding/json into a
// map of raw members, the reference the reader must agree with.
func refObject(p []byte) (map[string]json.RawMessage, error) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 || p[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var m map[string]json.RawMessage
	err := json.Unmarshal(p, &m)
	return m, err
}

// The scalar decoders as they were, through encoding/json.
func refNumber(raw []byte) (float64, bool) {
	var f float64
	if json.Unmarshal(raw, &f) != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e9 {
		return 0, false
	}
	return f, true
}

func refStr(raw []byte) (string, bool) {
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

func refReplyID(raw []byte) (uint64, bool) {
	var id uint64
	return id, json.Unmarshal(raw, &id) == nil && id <= maxRPCID
}

func refBool(raw []byte) (bool, bool) {
	var b bool
	return b, json.Unmarshal(raw, &b) == nil
}

// agreeJSON fails t unless object and refObject agree on p: both refuse it
// (object with ErrBadPayload), or both take it with the same members,
// byte for byte, and so on for every object and array within, down to
// what number, str and boolean make of every scalar. It returns whether
// p was taken.
func agreeJSON(t testing.TB, p []byte) bool {
	t.Helper()
	want, werr := refObject(p)
	got, err := object(p)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%.200q: reader says %v, encoding/json says %v", p, err, werr)
	}
	if err != nil {
		if !errors.Is(err, ErrBadPayload) {
			t.Fatalf("%.200q: error %v is not ErrBadPayload", p, err)
		}
		return false
	}
	if (checkJSON(bytes.TrimSpace(p)) == nil) != json.Valid(bytes.TrimSpace(p)) {
		t.Fatalf("%.200q: checkJSON and json.Valid disagree", p)
	}
	agreeMembers(t, got, want, 0)
	return true
}

func agreeMembers(t testing.TB, got jsonObject, want map[string]json.RawMessage, depth int) {
	t.Helper()
	keys := got.keys()
	wantKeys := make([]string, 0, len(want))
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	slices.Sort(wantKeys)
	if sorted := slices.Sorted(slices.Values(keys)); !slices.Equal(sorted, wantKeys) {
		t.Fatalf("%.200q: keys %q, encoding/json has %q", got.text, sorted, wantKeys)
	}
	for _, k := range keys {
		raw, ok := got.get(k)
		if !ok || !bytes.Equal(raw, want[k]) {
			t.Fatalf("%.200q: member %q is %.80q (%v), encoding/json has %.80q", got.text, k, raw, ok, want[k])
		}
		agreeValue(t, raw, depth)
	}
	if raw, ok := got.get("no such member\x00"); ok {
		t.Fatalf("%.200q: found an absent member: %q", got.text, raw)
	}
}

// agreeValue compares what the readers make of one raw value; depth
// keeps a deeply nested payload from costing a walk per level.
func agreeValue(t testing.TB, raw []byte, depth int) {
	t.Helper()
	if depth > 8 {
		return
	}
	switch {
	case raw[0] == '{':
		m, err := object(raw)
		want, werr := refObject(raw)
		if err != nil || werr != nil {
			t.Fatalf("%.80q: nested object: %v, encoding/json %v", raw, err, werr)
		}
		agreeMembers(t, m, want, depth+1)
	case raw[0] == '[':
		a, err := parseArray(raw)
		var want []json.RawMessage
		if werr := json.Unmarshal(raw, &want); err != nil || werr != nil {
			t.Fatalf("%.80q: array: %v, encoding/json %v", raw, err, werr)
		}
		items := a.items(nil)
		if len(items) != len(want) {
			t.Fatalf("%.80q: %d items, encoding/json %d", raw, len(items), len(want))
		}
		for i := range items {
			if !bytes.Equal(items[i], want[i]) {
				t.Fatalf("%.80q: item %d is %q, encoding/json %q", raw, i, items[i], want[i])
			}
			agreeValue(t, items[i], depth+1)
		}
	}
	agreeScalars(t, raw)
}

func agreeScalars(t testing.TB, raw []byte) {
	t.Helper()
	f, err := number("k", raw)
	if wf, ok := refNumber(raw); ok != (err == nil) || (ok && math.Float64bits(f) != math.Float64bits(wf)) {
		t.Fatalf("number(%.80q) = %v, %v; encoding/json %v, %v", raw, f, err, wf, ok)
	}
	s, err := str("k", raw)
	if ws, ok := refStr(raw); ok != (err == nil) || s != ws {
		t.Fatalf("str(%.80q) = %q, %v; encoding/json %q, %v", raw, s, err, ws, ok)
	}
	id, err := rpcReplyID(raw)
	if wid, ok := refReplyID(raw); ok != (err == nil) || (ok && id != wid) {
		t.Fatalf("rpcReplyID(%.80q) = %v, %v; encoding/json %v, %v", raw, id, err, wid, ok)
	}
	b, err := boolean("k", raw)
	if wb, ok := refBool(raw); ok != (err == nil) || b != wb {
		t.Fatalf("boolean(%.80q) = %v, %v; encoding/json %v, %v", raw, b, err, wb, ok)
	}
}

// realPayloads are the dialects' messages the package's tests use, the
// steady-state ones of the benchmark and the discovery golden files.
func realPayloads(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, tc := range append(slices.Clone(decodeCases), infoCases...) {
		out = append(out, []byte(tc.payload))
	}
	for _, tc := range steadyPayloads {
		out = append(out, []byte(tc.payload))
	}
	files, err := filepath.Glob(filepath.Join("testdata", "discovery", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden payloads: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		// The arrays' entries (Zigbee2MQTT's bridge lists) are objects too.
		var entries []json.RawMessage
		if json.Unmarshal(b, &entries) == nil {
			for _, e := range entries {
				out = append(out, e)
			}
		}
	}
	return out
}

// oddPayloads are the corners of the grammar and of the readers.
func oddPayloads() []string {
	deep := func(n int, open, close, inner string) string {
		return `{"a":` + strings.Repeat(open, n) + inner + strings.Repeat(close, n) + `}`
	}
	var out []string
	for _, num := range []string{"9007199254740992", "9007199254740993", "18446744073709551615", "18446744073709551616", "-1", "1.0", "1e3", "1e400", "-1e400", "1e-400", "-0", "0", "01", "-01", "1.", ".5", "+1", "-", "1e", "1e+", "1E-2",
		"0.0", "1.5e3", "123456789012345678901234567890", "1e9", "1000000001", "-1e9", "0x10", "Infinity", "NaN", "1_000", "- 1", "2.e1"} {
		out = append(out, `{"n":`+num+`}`, `{"n":[`+num+`]}`, num)
	}
	out = append(out,
		`{}`, ` { } `, "{\t\"a\"\r\n:\n1 }", "\v{}\f", "\u00a0{\"a\":1}\u0085", "{\"a\":1}\v", `{"a":1}x`, `{"a":1}{}`, `{"a":1},`,
		`[]`, `"s"`, `null`, `true`, `1`, ``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{:1}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`,
		`{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`, `{"a":{]}`, `{"a":[}`, `{"a":tru}`, `{"a":nul}`, `{"a":falsey}`, `{"a":True}`,
		`{"a":1,"a":2}`, `{"a":{"x":1},"a":[2],"a":"3"}`, `{"\u0061":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"\"":1,"\\":2,"\/":3}`,
		`{"\ud83d\ude00":1}`, `{"\ud800":1}`, `{"\udc00x":1}`, `{"\u00e9":1,"é":2}`, "{\"\xff\":1}", "{\"\xff\":1,\"\ufffd\":2}",
		"{\"a\xc3\":1}", `{"a\u0000b":1}`, "{\"a\x00b\":1}", "{\"a\":\"\x1f\"}", "{\"a\":\"\x7f\"}", `{"a":"\x"}`, `{"a":"\u12"}`,
		`{"a":"\u12g4"}`, `{"a":"\`, `{"a":"\u`, `{"a":"tab	"}`, "{\"s\":\"\xff\xfe\"}", "{\"s\":\"\xed\xa0\x80\"}",
		`{"s":"a\nb\"c\\d\/e\bf\fg\rh\ti\u00e9"}`, `{"POWER":"\u004fN"}`, `{"POWER":"O\u004e"}`, `{"b":true,"c":false,"d":null}`,
		`{"a":"`+strings.Repeat("x", 1<<20)+`"}`, `{"`+strings.Repeat("k", 70000)+`":1}`, `{"a":"`+strings.Repeat(`\u00e9`, 5000)+`"}`,
		deep(9999, "[", "]", ""), deep(10000, "[", "]", ""), deep(9998, `{"b":`, "}", "1"), deep(9999, `{"b":`, "}", "1"),
		deep(5000, `[{"c":`, "}]", "null"), deep(4999, `[{"c":`, "}]", "null"), deep(100000, "[", "]", ""), deep(20000, "[", "", ""),
	)
	return out
}

// mutations are p cut at every byte, and p with bytes flipped.
func mutations(p []byte, rng *rand.Rand) [][]byte {
	var out [][]byte
	if len(p) < 4096 {
		for i := range len(p) {
			out = append(out, p[:i])
		}
	}
	specials := []byte(`{}[]",:\ 0-.eE+tfnu` + "\x00\x1f\x7f\x80\xff")
	for range 64 {
		q := slices.Clone(p)
		for range 1 + rng.IntN(3) {
			if len(q) == 0 {
				break
			}
			i := rng.IntN(len(q))
			if rng.IntN(2) == 0 {
				q[i] = specials[rng.IntN(len(specials))]
			} else {
				q[i] ^= 1 << rng.IntN(8)
			}
		}
		out = append(out, q)
	}
	return out
}

// The reader takes exactly the payloads encoding/json takes and gives
// the same members: the dialects' real messages, every one cut short at
// every byte and with bytes flipped, and the grammar's corners.
func TestJSONObject_AgreesWithEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 2026))
	taken, refused := 0, 0
	count := func(ok bool) {
		if ok {
			taken++
		} else {
			refused++
		}
	}
	for _, p := range realPayloads(t) {
		count(agreeJSON(t, p))
		for _, q := range mutations(p, rng) {
			count(agreeJSON(t, q))
		}
	}
	for _, s := range oddPayloads() {
		count(agreeJSON(t, []byte(s)))
	}
	// Both outcomes must be common, or the comparison proves little.
	if taken < 500 || refused < 500 {
		t.Fatalf("only %d payloads taken and %d refused", taken, refused)
	}
	t.Logf("%d payloads taken, %d refused, all as encoding/json", taken, refused)
}

// Nesting is bounded at encoding/json's depth, with an error that says so.
func TestJSONObject_RefusesNestingBeyondTheBound(t *testing.T) {
	at := func(depth int) []byte {
		return []byte(strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1))
	}
	p := append(append([]byte(`{"a":`), at(maxJSONDepth)...), '}')
	if _, err := object(p); err != nil {
		t.Fatalf("%d levels: %v", maxJSONDepth, err)
	}
	p = append(append([]byte(`{"a":[`), at(maxJSONDepth)...), "]}"...)
	_, err := object(p)
	if !errors.Is(err, ErrBadPayload) || !strings.Contains(err.Error(), fmt.Sprint(maxJSONDepth)) {
		t.Fatalf("%d levels: %v", maxJSONDepth+1, err)
	}
}

// The errors say what was wrong and where.
func TestJSONObject_ErrorsSayWhere(t *testing.T) {
	for p, want := range map[string]string{
		`{"a":1`:           "JSON ends at byte 6, want ',' or '}'",
		`{"a":1}x`:         "invalid character 'x' at byte 7, want the end after the top-level value",
		`{"a":01}`:         "invalid character '1' at byte 6, want ',' or '}'",
		`{"a":"\q"}`:       `invalid character 'q' at byte 7, want an escape`,
		"{\"a\":\"\x01\"}": "invalid character 0x01 at byte 6, want no control character in a string",
		`[1]`:              "not a JSON object",
	} {
		_, err := object([]byte(p))
		if !errors.Is(err, ErrBadPayload) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", p, err, want)
		}
	}
}

// Looking up a member, and the numbers and literals of steady-state
// payloads, allocate nothing.
func TestJSONObject_ReadingAllocatesNothing(t *testing.T) {
	p, yes := []byte(steadyPayloads[0].payload), []byte("true")
	var sink float64
	allocs := testing.AllocsPerRun(100, func() {
		m, err := object(p)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := m.get("Wifi")
		o, err := object(w)
		if err != nil {
			t.Fatal(err)
		}
		v, err := number("Signal", o.value("Signal"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := boolean("x", yes)
		if err != nil || !b {
			t.Fatal(err)
		}
		if _, ok := m.get("NoSuchKey"); ok {
			t.Fatal("found NoSuchKey")
		}
		sink += v
	})
	if allocs != 0 {
		t.Fatalf("%v allocations a payload, want none", allocs)
	}
}

// FuzzJSONObject compares the reader with encoding/json on any payload.
func FuzzJSONObject(f *testing.F) {
	for _, p := range realPayloads(f) {
		f.Add(p)
	}
	for _, s := range oddPayloads() {
		if len(s) < 4096 {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		agreeJSON(t, p)
	})
}
