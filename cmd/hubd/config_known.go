package main

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// unknownFields lists the mapping keys of n that no field of t takes, in
// the words and order yaml.v3's strict decoder (KnownFields) uses, so the
// file is parsed once: decoding the parsed tree (yaml.Node.Decode) does
// not check them itself. ParseConfig of a 4 MiB config of 10,000 devices
// (BenchmarkParseConfig_10000Devices): 0.56-0.65 s parsing the file twice,
// 0.44-0.48 s once with this walk.
func unknownFields(n *yaml.Node, t reflect.Type) []string {
	w := knownWalk{seen: map[aliased]bool{}}
	w.walk(n, t, 0)
	// An anchored key also met through an alias is named once.
	said := map[string]bool{}
	out := w.out[:0]
	for _, m := range w.out {
		if !said[m] {
			said[m] = true
			out = append(out, m)
		}
	}
	return out
}

// knownWalk is one unknownFields walk. An anchored node is walked once
// for each type it is read as, however many aliases name it: following
// every alias would expand a few hundred bytes of nested aliases into
// billions of nodes (the decoder refuses such a file as excessive
// aliasing, but only after the walk).
type knownWalk struct {
	out    []string
	seen   map[aliased]bool
	visits int // nodes walked
	// keys are the struct types' keys, made once per type: a config of
	// 10,000 devices has tens of thousands of device mappings.
	keys map[reflect.Type]structKeySet
}

type structKeySet struct {
	fields map[string]reflect.Type
	anyKey bool
}

// structKeys is structKeys(t), memoised.
func (w *knownWalk) structKeys(t reflect.Type) (map[string]reflect.Type, bool) {
	ks, ok := w.keys[t]
	if !ok {
		ks.fields, ks.anyKey = structKeys(t)
		if w.keys == nil {
			w.keys = map[reflect.Type]structKeySet{}
		}
		w.keys[t] = ks
	}
	return ks.fields, ks.anyKey
}

type aliased struct {
	n *yaml.Node
	t reflect.Type
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// maxKnownDepth bounds the walk (aliases can nest); the decoder refuses
// deeper documents anyway.
const maxKnownDepth = 64

func (w *knownWalk) walk(n *yaml.Node, t reflect.Type, depth int) {
	if n == nil || depth > maxKnownDepth {
		return
	}
	w.visits++
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return // it reads its node itself
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			w.walk(c, t, depth+1)
		}
		return
	case yaml.AliasNode:
		if k := (aliased{n.Alias, t}); !w.seen[k] {
			w.seen[k] = true
			w.walk(n.Alias, t, depth+1)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		fields, anyKey := w.structKeys(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			switch {
			case ok:
				w.walk(v, ft, depth+1)
			case k.Value == "<<": // a merge: its mappings' keys are this struct's
				if v.Kind == yaml.SequenceNode {
					for _, m := range v.Content {
						w.walk(m, t, depth+1)
					}
				} else {
					w.walk(v, t, depth+1)
				}
			case anyKey:
			default:
				w.out = append(w.out, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, t.String()))
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				w.walk(n.Content[i], t.Elem(), depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				w.walk(c, t.Elem(), depth+1)
			}
		}
	}
}

// structKeys maps the keys a struct takes to their fields' types, the
// ,inline structs' included, as yaml.v3 names them (the tag's name, or
// the field's name in lower case); anyKey is true when an inline map
// takes the rest.
func structKeys(t reflect.Type) (map[string]reflect.Type, bool) {
	keys := map[string]reflect.Type{}
	anyKey := false
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			switch ft := f.Type; ft.Kind() {
			case reflect.Struct:
				inner, any := structKeys(ft)
				for k, v := range inner {
					keys[k] = v
				}
				anyKey = anyKey || any
			case reflect.Map:
				anyKey = true
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys[name] = f.Type
	}
	return keys, anyKey
}
