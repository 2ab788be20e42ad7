package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"hubd/drivers/mqtt/mqttsim"
)

// dumpNode prints what decoding and error messages read of a tree: every
// node's kind, style, tag, value, anchor, alias and position.
func dumpNode(b *strings.Builder, n *yaml.Node, depth int) {
	fmt.Fprintf(b, "%*s%d %d %q %q &%q %d:%d", depth, "", n.Kind, n.Style, n.Tag, n.Value, n.Anchor, n.Line, n.Column)
	if n.Alias != nil {
		fmt.Fprintf(b, " *%d:%d", n.Alias.Line, n.Alias.Column)
	}
	b.WriteByte('\n')
	for _, c := range n.Content {
		dumpNode(b, c, depth+1)
	}
}

func dumpTree(n *yaml.Node) string {
	var b strings.Builder
	dumpNode(&b, n, 0)
	return b.String()
}

// checkPieces parses text whole and in pieces cut at every line that can
// start one, and fails unless the pieces give the same tree or give up.
// It returns whether they gave a tree.
func checkPieces(t *testing.T, name, text string) bool {
	t.Helper()
	var whole yaml.Node
	werr := yaml.Unmarshal([]byte(text), &whole)
	pieces := splitYAML([]byte(text), 1)
	root, ok := parsePieces(pieces)
	if !ok {
		return false
	}
	if werr != nil {
		t.Fatalf("%s: the pieces (%d) gave a tree where the whole file fails: %v", name, len(pieces), werr)
	}
	if got, want := dumpTree(root), dumpTree(&whole); got != want {
		t.Fatalf("%s: %d pieces give another tree than the whole file:\n--- pieces\n%s\n--- whole\n%s", name, len(pieces), got, want)
	}
	return true
}

func TestParseYAMLPieces_SameTreeAsWhole(t *testing.T) {
	specs := mqttsim.Mass(200)
	dir := t.TempDir()
	data := readFile(t, mqttRunConfig(t, dir, "127.0.0.1:1883", "hubd", "pass-word-1", specs, nil))
	if !checkPieces(t, "generated config", data) {
		t.Fatal("a generated config of 200 devices was not parsed in pieces")
	}
	for name, text := range map[string]string{
		"zero-indented entries, comments, blank lines": "a: 1\n# top\ndevices:\n- id: x\n  name: y\n\n# between\n- id: z\n  tags:\n  - one\n  - two\n-   id: w\nsite:\n  - id: s\n    devices: [x, z]\nb: end\n",
		"CRLF":               "a: 1\r\nlist:\r\n  - x: 1\r\n  - x: 2\r\n  - x: 3\r\nb: 2\r\n",
		"no final newline":   "a: 1\nlist:\n  - 1\n  - 2\nb: 2",
		"block scalars":      "a: |\n  text\n  - not an entry\nlist:\n  - note: >\n      folded\n      - not an entry\n  - x\nz: 1\n",
		"nested sequences":   "list:\n  - - 1\n    - 2\n  - - 3\nz: [1,\n  2]\n",
		"anchor in a piece":  "a: &x {k: v}\nb: *x\nc: 1\n",
		"merge in a piece":   "list:\n  - &base {driver: tasmota}\n  - <<: *base\n    id: b\n",
		"duplicate keys":     "a: 1\nlist:\n  - 1\na: 2\n",
		"valued key then -":  "a: x\n- 1\nb: 2\n",
		"key with a comment": "list: # all of them\n  - 1\n  - 2\nz: 0\n",
	} {
		checkPieces(t, name, text)
	}
}

// Cuts that land inside a construct make a piece fail: the file is then
// parsed whole, with the parser's own error for a broken one.
func TestParseYAMLPieces_GivesUpWhereACutIsWrong(t *testing.T) {
	for name, text := range map[string]string{
		"alias to another piece":      "a: &x {k: v}\nb: 1\nc: *x\n",
		"quoted scalar over lines":    "a: \"one\nb: two\"\nc: 1\n",
		"flow mapping over lines":     "a: {k: 1,\nb: 2}\nc: 1\n",
		"quoted entry over lines":     "list:\n  - \"x\n  - y\"\n  - z\n",
		"document markers":            "---\na: 1\nb: 2\n",
		"directive":                   "%YAML 1.1\n---\na: 1\nb: 2\n",
		"stray line":                  "a: 1\nlist:\n  - 1\nnot a key\nb: 2\n",
		"top level is a sequence":     "- a\n- b\n",
		"tab in an entry":             "list:\n  - a: 1\n\t- b\n  - c\n",
		"entry after the sequence":    "list:\n  - 1\n z: 2\n  - 3\n",
		"byte order mark":             "\xEF\xBB\xBFa: 1\nb: 2\n",
		"duplicate anchor, alias cut": "a: &x 1\nb: &x 2\nc: *x\n",
	} {
		if checkPieces(t, name, text) && strings.Contains(name, "over lines") {
			t.Errorf("%s: a cut construct was taken", name)
		}
		var whole yaml.Node
		werr := yaml.Unmarshal([]byte(text), &whole)
		root, err := parseYAMLTree([]byte(text))
		if fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Errorf("%s: parseYAMLTree error %v, the whole parse's %v", name, err, werr)
		}
		if err == nil && dumpTree(root) != dumpTree(&whole) {
			t.Errorf("%s: parseYAMLTree gave another tree", name)
		}
	}
}

// A piece that continues a sequence is joined only to the key line it
// copied: here the last key before the cut is an alias whose anchor has
// the sequence key's name, and the whole parse refuses the file.
func TestParseYAMLPieces_ContinuationJoinsOnlyItsOwnKey(t *testing.T) {
	text := "x: &devices foo\ndevices:\n  - a\n*devices :\n    - p0\n  - id: e0\n  - id: e1\n"
	var whole yaml.Node
	if yaml.Unmarshal([]byte(text), &whole) == nil {
		t.Fatal("the whole parse takes the file: the case tests nothing")
	}
	pieces := splitYAML([]byte(text), 40) // one cut, at "  - id: e0"
	if len(pieces) != 2 || !pieces[1].cont {
		t.Fatalf("%d pieces (%+v), want 2 with the second continuing the sequence", len(pieces), pieces)
	}
	if _, ok := parsePieces(pieces); ok {
		t.Fatal("the pieces were joined where the whole file fails")
	}
	if _, err := parseYAMLTree([]byte(strings.Repeat("# padding\n", 30000) + text)); err == nil {
		t.Fatal("parseYAMLTree took a file the whole parse refuses")
	}
}

// A broken 10,000-device file is refused with the line the whole parse
// names, though it is parsed in pieces first.
func TestParseConfig_LargeBrokenFileNamesTheLine(t *testing.T) {
	specs := mqttsim.Mass(2000)
	data := readFile(t, mqttRunConfig(t, t.TempDir(), "127.0.0.1:1883", "hubd", "pass-word-1", specs, nil))
	if len(data) < piecesMin {
		t.Fatalf("config of %d bytes is under piecesMin", len(data))
	}
	lines := strings.SplitAfter(data, "\n")
	at := len(lines) * 2 / 3
	for !strings.HasPrefix(lines[at], "      name: ") {
		at++
	}
	lines[at] = "      name: \"unterminated\n"
	_, err := ParseConfig("big.yaml", []byte(strings.Join(lines, "")))
	if err == nil || !strings.Contains(err.Error(), "big.yaml:") {
		t.Fatalf("ParseConfig = %v, want a located error", err)
	}
	var whole yaml.Node
	werr := yaml.Unmarshal([]byte(strings.Join(lines, "")), &whole)
	if want := strings.Replace(werr.Error(), "yaml: line ", "big.yaml:", 1); err.Error() != want {
		t.Fatalf("ParseConfig = %v, want %s", err, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
