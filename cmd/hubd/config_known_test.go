package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"hubd/drivers/mqtt/mqttsim"
)

// strictUnknown is what yaml.v3's strict decoder says of doc's unknown
// keys: the reference unknownFields must agree with.
func strictUnknown(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	var c Config
	err := dec.Decode(&c)
	var te *yaml.TypeError
	if err != nil && !errors.As(err, &te) {
		t.Fatalf("decode: %v", err)
	}
	var out []string
	if te != nil {
		for _, m := range te.Errors {
			if bytes.Contains([]byte(m), []byte("not found in type")) {
				out = append(out, m)
			}
		}
	}
	return out
}

// mappings lists every mapping node under n.
func mappings(n *yaml.Node, out *[]*yaml.Node) {
	if n.Kind == yaml.MappingNode {
		*out = append(*out, n)
	}
	for _, c := range n.Content {
		mappings(c, out)
	}
}

// A key no field takes is found wherever it is, with the strict
// decoder's words and line: one is put into every mapping of the example
// config (sections, list items, inline Modbus fields, site nodes, maps),
// in turn, and both must name exactly it.
func TestUnknownFields_AgreeWithTheStrictDecoder(t *testing.T) {
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	example := []byte(withOwnSecrets(t, string(b)))
	modbusAndOutputs := []byte(`data_dir: /tmp/x
serial:
  - {name: rs485, port: /dev/ttyUSB0, baud: 9600, protocol: modbus}
modbus_profiles:
  - name: my-relay
    channels: 1
    switch: {table: coil, address: 0}
    ident: {table: holding, address: 9, value: 7}
devices:
  - {id: relay, name: R, kind: socket, driver: modbus, bus: rs485, address: 3, profile: relay-4, channel: 2}
  - {id: t2, name: T2, kind: socket, driver: tasmota, topic: plug, channel: 2, temperature_k: {min: 2000, max: 6000}}
site:
  - {id: b, name: B, children: [{id: r1, name: R1, kind: home, devices: [relay]}]}
`)
	merged := []byte(`data_dir: /tmp/x
x-defaults: &plug {kind: socket, driver: tasmota, bogus_in_anchor: 1}
devices:
  - {<<: *plug, id: p1, name: P1, topic: p1}
  - <<: [*plug]
    id: p2
    name: P2
    topic: p2
`)
	var md yaml.Node
	if err := yaml.Unmarshal(merged, &md); err != nil {
		t.Fatal(err)
	}
	// An anchor is checked once however often it is merged; the strict
	// decoder names it at each use, with the same words and line.
	got, want := unknownFields(&md, reflect.TypeFor[Config]()), strictUnknown(t, merged)
	slices.Sort(got)
	slices.Sort(want)
	want = slices.Compact(want)
	if !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("merge keys: ours %q, strict decoder %q", got, want)
	}
	total := 0
	for _, text := range [][]byte{example, modbusAndOutputs} {
		var root yaml.Node
		if err := yaml.Unmarshal(text, &root); err != nil {
			t.Fatal(err)
		}
		if got := unknownFields(&root, reflect.TypeFor[Config]()); len(got) != 0 {
			t.Errorf("a config without unknown keys: %q", got)
		}
		var maps []*yaml.Node
		mappings(&root, &maps)
		total += len(maps)
		for i := range maps {
			var doc yaml.Node
			yaml.Unmarshal(text, &doc)
			var ms []*yaml.Node
			mappings(&doc, &ms)
			ms[i].Content = append(ms[i].Content,
				&yaml.Node{Kind: yaml.ScalarNode, Value: "no_such_key"}, &yaml.Node{Kind: yaml.ScalarNode, Value: "1"})
			out, err := yaml.Marshal(&doc)
			if err != nil {
				t.Fatal(err)
			}
			var re yaml.Node
			if err := yaml.Unmarshal(out, &re); err != nil {
				t.Fatal(err)
			}
			got, want := unknownFields(&re, reflect.TypeFor[Config]()), strictUnknown(t, out)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("mapping %d: ours %q, strict decoder %q", i, got, want)
			}
		}
	}
	if total < 30 {
		t.Fatalf("only %d mappings tried", total)
	}
}

// BenchmarkParseConfig_10000Devices: a gateway's config with 10,000 MQTT
// devices (about 4 MiB), parsed and checked as at start-up and on every
// reload or adoption.
func BenchmarkParseConfig_10000Devices(b *testing.B) {
	cfg := mqttRunConfig(b, b.TempDir(), "127.0.0.1:0", "hubd", "x-pass-123456", mqttsim.Mass(10000), nil)
	data, err := os.ReadFile(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ParseConfig("hubd.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/parse")
	b.Logf("%d bytes, %.0f ms a parse (no target; part of start-up's <= 1 s)", len(data), float64(b.Elapsed().Milliseconds())/float64(b.N))
}

// Nested aliases that would expand a few hundred bytes into 9^8 site
// nodes are walked once per anchor: the walk stays as long as the file,
// and the decoder then refuses the file for its aliasing.
func TestUnknownFields_NestedAliasesWalkedOnce(t *testing.T) {
	var b strings.Builder
	b.WriteString("site:\n  - &a0 {id: a, name: a, bogus: 1}\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "  - &a%d {id: a, name: a, children: [", i)
		for j := range 9 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]}\n")
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(b.String()), &root); err != nil {
		t.Fatal(err)
	}
	w := knownWalk{seen: map[aliased]bool{}}
	w.walk(&root, reflect.TypeFor[Config](), 0)
	if w.visits > 1000 {
		t.Fatalf("%d nodes walked for a %d-byte file", w.visits, b.Len())
	}
	if got := unknownFields(&root, reflect.TypeFor[Config]()); len(got) != 1 || !strings.Contains(got[0], "field bogus not found") {
		t.Fatalf("unknown keys: %q", got)
	}
	if _, err := ParseConfig("x.yaml", []byte(b.String())); err == nil {
		t.Fatal("a file of nested aliases was taken")
	}
}
