package mqtt

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The decoders read device payloads through jsonObject rather than
// encoding/json into a map: at thousands of devices reporting every few
// seconds, a map, its key strings and a copy of every member per message
// were most of the daemon's garbage. jsonObject checks a payload once,
// exactly as strictly as encoding/json does, and then hands out members
// as sub-slices of the payload itself. Payloads are never written to once
// received (the driver's queues share them between devices), so the
// sub-slices stay valid for as long as anyone holds them; but a held
// sub-slice holds the whole payload, so what outlives the message (a
// name, a model) is copied out as a string.

// maxJSONDepth bounds the nesting of arrays and objects in a payload.
// It is encoding/json's own limit, so both accept the same payloads; the
// checker is a loop, not a recursion, and keeps one bit per level in a
// fixed array, so no payload, however deep, grows the stack or the heap.
const maxJSONDepth = 10000

// jsonObject is the text of one JSON object, checked: from its '{' to its
// '}', nothing around it. The zero value is an object with no members.
type jsonObject struct {
	text []byte
}

// object checks that p is one JSON object and nothing else (whitespace
// around it aside: any Unicode space, as bytes.TrimSpace has always been
// applied first). Anything else (garbage, truncated JSON, an array, a
// string) is ErrBadPayload.
func object(p []byte) (jsonObject, error) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 || p[0] != '{' {
		return jsonObject{}, badf("not a JSON object")
	}
	if err := checkJSON(p); err != nil {
		return jsonObject{}, err
	}
	return jsonObject{text: p}, nil
}

// member reads the member that starts at or after i (just past the '{'
// or a ','): its name as written, quotes included, its value, and where
// the next member starts. ok is false past the last member. ascii says
// that the name has neither escapes nor bytes beyond ASCII, so it
// decodes to itself.
func (o jsonObject) member(i int) (name, val []byte, ascii bool, next int, ok bool) {
	t := o.text
	i = skipJSONSpace(t, i)
	if i >= len(t) || t[i] != '"' {
		return nil, nil, false, len(t), false // '}', or the zero object
	}
	end, ascii := skipName(t, i)
	name = t[i:end]
	i = skipJSONSpace(t, end) + 1 // past ':'
	i = skipJSONSpace(t, i)
	end = skipValue(t, i)
	val = t[i:end]
	next = skipJSONSpace(t, end) + 1 // past ',' or '}'
	return name, val, ascii, next, true
}

// get returns the value of the member key. When a name is given twice
// the last one counts, as with encoding/json into a map. It allocates
// nothing unless a member's name has escapes (or bytes that are not
// UTF-8) and so must be decoded to be compared.
func (o jsonObject) get(key string) (raw []byte, ok bool) {
	for i := 1; ; {
		name, val, ascii, next, more := o.member(i)
		if !more {
			return raw, ok
		}
		if ascii && string(name[1:len(name)-1]) == key || !ascii && nameIs(name, key) {
			raw, ok = val, true
		}
		i = next
	}
}

// value is get without ok: nil for an absent member.
func (o jsonObject) value(key string) []byte {
	raw, _ := o.get(key)
	return raw
}

// keys lists the object's member names, decoded, each once, in the order
// of their first appearance.
func (o jsonObject) keys() []string {
	var out []string
	seen := map[string]bool{}
	for i := 1; ; {
		name, _, _, next, more := o.member(i)
		if !more {
			return out
		}
		k := memberName(name)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
		i = next
	}
}

// nameIs reports whether a member name as written (quoted) decodes to key.
func nameIs(name []byte, key string) bool {
	inner := name[1 : len(name)-1]
	if plainString(inner) {
		return string(inner) == key
	}
	return memberName(name) == key
}

// plainString reports whether the body of a JSON string decodes to its
// own bytes: no escapes, and UTF-8 throughout (encoding/json replaces
// bytes that are not with U+FFFD).
func plainString(inner []byte) bool {
	return bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner)
}

// memberName decodes a checked, quoted JSON string.
func memberName(name []byte) string {
	inner := name[1 : len(name)-1]
	if plainString(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(name, &s) // checked already: cannot fail
	return s
}

// isJSONSpace reports the four bytes JSON takes as whitespace.
func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func skipJSONSpace(p []byte, i int) int {
	for i < len(p) && isJSONSpace(p[i]) {
		i++
	}
	return i
}

func trimJSONSpace(p []byte) []byte {
	p = p[skipJSONSpace(p, 0):]
	for len(p) > 0 && isJSONSpace(p[len(p)-1]) {
		p = p[:len(p)-1]
	}
	return p
}

// skipString returns the end of the checked string that starts at p[i].
func skipString(p []byte, i int) int {
	for i++; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(p)
}

// skipName is skipString for a member name, and says whether the name
// is plain ASCII: no escapes, no bytes beyond 0x7f.
func skipName(p []byte, i int) (end int, ascii bool) {
	ascii = true
	for i++; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"':
			return i + 1, ascii
		case c == '\\':
			ascii = false
			i++
		case c >= 0x80:
			ascii = false
		}
	}
	return len(p), false
}

// skipValue returns the end of the checked value that starts at p[i].
func skipValue(p []byte, i int) int {
	switch p[i] {
	case '"':
		return skipString(p, i)
	case '{', '[':
		depth := 0
		for i < len(p) {
			switch p[i] {
			case '"':
				i = skipString(p, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(p)
	}
	for i < len(p) && !isJSONSpace(p[i]) && p[i] != ',' && p[i] != '}' && p[i] != ']' {
		i++
	}
	return i
}

// jsonArray is the text of one JSON array, checked, read in place as
// jsonObject is.
type jsonArray struct {
	text []byte
}

// parseArray checks that raw is one JSON array (JSON whitespace around
// it aside); anything else is ErrBadPayload.
func parseArray(raw []byte) (jsonArray, error) {
	t := trimJSONSpace(raw)
	if len(t) == 0 || t[0] != '[' {
		return jsonArray{}, badf("not a JSON array")
	}
	if err := checkJSON(t); err != nil {
		return jsonArray{}, err
	}
	return jsonArray{text: t}, nil
}

// items appends the items to dst: with dst a slice of an array of the
// caller's, reading as many items as the array holds allocates nothing.
func (a jsonArray) items(dst [][]byte) [][]byte {
	t := a.text
	for i := skipJSONSpace(t, 1); i < len(t) && t[i] != ']'; {
		end := skipValue(t, i)
		dst = append(dst, t[i:end])
		i = skipJSONSpace(t, skipJSONSpace(t, end)+1) // past ','
	}
	return dst
}
