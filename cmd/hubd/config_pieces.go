package main

import (
	"bytes"
	"runtime"
	"sync"

	"gopkg.in/yaml.v3"
)

// A config of 10,000 devices is 4 MiB of YAML, and yaml.v3 builds its
// node tree at about 12 MB/s on one core: a third of a second of the
// daemon's start. parseYAMLTree parses a large file in pieces on every
// core and joins the trees, when the pieces are sure to give the tree the
// whole file gives; anything else is parsed whole.
//
// A piece starts at a line that starts a top-level key (a letter or _ in
// column 0), or at an entry of the block sequence that is the value of a
// top-level key (a line with the indentation and "- " of that sequence's
// first entry); a piece that starts inside a sequence is parsed after a
// copy of its key's line. In a block mapping at column 0 such lines can
// be nothing else, except inside a quoted scalar or a flow collection,
// which a cut leaves unterminated: that piece fails and the file is
// parsed whole, as it is when any piece fails (so a broken file gets the
// parser's own message and line), when an alias names an anchor in
// another piece (the piece fails: unknown anchor), and for a file with
// directives, document markers or a byte-order mark. Line numbers are
// moved back to the file's; columns are the file's already. Comments may
// attach to other nodes than in a whole parse: nothing reads them.

// piecesMin is the size from which a file is parsed in pieces.
const piecesMin = 256 << 10

// parseYAMLTree parses data into its document node as yaml.Unmarshal into
// a yaml.Node does.
func parseYAMLTree(data []byte) (*yaml.Node, error) {
	if procs := runtime.GOMAXPROCS(0); procs > 1 && len(data) >= piecesMin {
		if root, ok := parsePieces(splitYAML(data, max(len(data)/(2*procs), 64<<10))); ok {
			return root, nil
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	return &root, nil
}

// yamlPiece is a part of a file to parse on its own.
type yamlPiece struct {
	text []byte // what is parsed
	line int    // the file's line number of the piece's first line
	// cont: the piece continues the sequence of the previous piece's last
	// key; text starts with a copy of that key's line, keyLine in the file.
	cont    bool
	keyLine int
}

// splitYAML cuts data into pieces of about size bytes at the lines that
// can start one; nil when the file can not be cut.
func splitYAML(data []byte, size int) []yamlPiece {
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		return nil
	}
	var (
		pieces        []yamlPiece
		start, first  = 0, 1 // the current piece's offset and line
		contKey       []byte // the key line a piece that continues a sequence is parsed after
		contKeyNo     int    // its line number
		keyLine, item []byte // the current top-level key's line, its sequence's "  -"
		keyNo         int    // keyLine's line number
		seqPending    bool   // the key has no value on its line: a sequence may follow
		off, n        = 0, 0
	)
	piece := func(end int) yamlPiece {
		p := yamlPiece{text: data[start:end], line: first, cont: contKey != nil, keyLine: contKeyNo}
		if p.cont {
			p.text = append(append([]byte(nil), contKey...), p.text...)
		}
		return p
	}
	cut := func(cont bool) {
		if off-start < size {
			return
		}
		pieces = append(pieces, piece(off))
		start, first, contKey, contKeyNo = off, n, nil, 0
		if cont {
			contKey, contKeyNo = keyLine, keyNo
		}
	}
	for line := range bytes.Lines(data) {
		n++
		switch c := line[0]; {
		case c == '%' || bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("...")):
			return nil
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			cut(false)
			keyLine, keyNo, item, seqPending = line, n, nil, valueless(line)
			if len(keyLine) > 0 && keyLine[len(keyLine)-1] != '\n' {
				keyLine = append(append([]byte(nil), keyLine...), '\n')
			}
		case seqPending && !blankOrComment(line):
			seqPending = false
			if d := entryIndent(line); d >= 0 {
				item = line[:d+1]
			}
		case item != nil && bytes.HasPrefix(line, item) && entryIndent(line) == len(item)-1:
			cut(true)
		}
		off += len(line)
	}
	if len(pieces) == 0 {
		return nil
	}
	return append(pieces, piece(len(data)))
}

// valueless reports whether a key line has no value after its colon
// (nothing, or a comment).
func valueless(line []byte) bool {
	for i := 0; i < len(line); i++ {
		if line[i] != ':' {
			continue
		}
		if i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t' || line[i+1] == '\r' || line[i+1] == '\n' {
			rest := bytes.TrimSpace(line[i+1:])
			return len(rest) == 0 || rest[0] == '#'
		}
	}
	return false
}

func blankOrComment(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) == 0 || t[0] == '#'
}

// entryIndent is the column of a block sequence entry's dash ("  - x",
// "  -"), or -1 for any other line.
func entryIndent(line []byte) int {
	d := 0
	for d < len(line) && line[d] == ' ' {
		d++
	}
	if d < len(line) && line[d] == '-' && (d+1 == len(line) || line[d+1] == ' ' || line[d+1] == '\r' || line[d+1] == '\n') {
		return d
	}
	return -1
}

// parsePieces parses the pieces on every core and joins them into the
// file's document node; ok is false when there are none, a piece fails or
// is not the mapping (or sequence entries) it must be.
func parsePieces(pieces []yamlPiece) (*yaml.Node, bool) {
	if len(pieces) == 0 {
		return nil, false
	}
	docs := make([]*yaml.Node, len(pieces))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, p := range pieces {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var doc yaml.Node
			if yaml.Unmarshal(p.text, &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
				return
			}
			delta := p.line - 1
			if p.cont {
				delta-- // the copied key line
			}
			shiftLines(doc.Content[0], delta)
			docs[i] = &doc
		}()
	}
	wg.Wait()
	for _, d := range docs {
		if d == nil {
			return nil, false
		}
	}
	root := docs[0]
	m := root.Content[0]
	for i, d := range docs[1:] {
		pm := d.Content[0].Content
		if pieces[i+1].cont {
			// The first pair is the copied key with the entries that
			// continue its sequence.
			if len(m.Content) < 2 || len(pm) < 2 {
				return nil, false
			}
			k, seq, more := m.Content[len(m.Content)-2], m.Content[len(m.Content)-1], pm[1]
			// The key must be the very line that was copied: a plain key
			// of the same name elsewhere, or an alias whose anchor has
			// that name, is not it.
			if seq.Kind != yaml.SequenceNode || more.Kind != yaml.SequenceNode || k.Kind != yaml.ScalarNode ||
				k.Line != pieces[i+1].keyLine || pm[0].Value != k.Value {
				return nil, false
			}
			seq.Content = append(seq.Content, more.Content...)
			pm = pm[2:]
		}
		m.Content = append(m.Content, pm...)
	}
	return root, true
}

// shiftLines adds delta to the line of n and every node under it.
func shiftLines(n *yaml.Node, delta int) {
	if delta == 0 {
		return
	}
	n.Line += delta
	for _, c := range n.Content {
		shiftLines(c, delta)
	}
}
