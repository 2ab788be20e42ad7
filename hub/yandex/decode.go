package yandex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// maxDepth bounds nesting in request bodies (custom_data is free-form).
const maxDepth = 64

// scanner is a minimal JSON reader for the query body, the hot path of the
// API: it pulls the device ids out of {"devices":[{"id":..},..]} and skips
// everything else (custom_data) without building values.
type scanner struct {
	b     []byte
	i     int
	depth int
}

func (s *scanner) errf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrMalformed, s.i, fmt.Sprintf(format, args...))
}

func (s *scanner) ws() {
	b, i := s.b, s.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	s.i = i
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		if s.i >= len(s.b) {
			return s.errf("unexpected end, want %q", c)
		}
		return s.errf("want %q, got %q", c, s.b[s.i])
	}
	s.i++
	return nil
}

// plainByte marks the bytes a string holds as they are: not a quote, a
// backslash, a control character or part of a multi-byte character.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// rawString returns the bytes of the string at the cursor, quotes included,
// and whether it needs unescaping.
func (s *scanner) rawString() ([]byte, bool, error) {
	if s.peek() != '"' {
		return nil, false, s.errf("want a string")
	}
	start := s.i
	s.i++
	escaped := false
	for s.i < len(s.b) {
		b, i := s.b, s.i
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		s.i = i
		if s.i >= len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:s.i], escaped, nil
		case c == '\\':
			escaped = true
			if err := s.escape(); err != nil {
				return nil, false, err
			}
		case c < 0x20:
			return nil, false, s.errf("control character in string")
		case c >= utf8.RuneSelf:
			escaped = true // let encoding/json apply its UTF-8 rules
			s.i++
		default:
			s.i++
		}
	}
	return nil, false, s.errf("unterminated string")
}

// escape checks the escape sequence at the cursor and steps over it.
func (s *scanner) escape() error {
	if s.i+1 >= len(s.b) {
		return s.errf("unterminated string")
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return nil
	case 'u':
		if s.i+6 > len(s.b) {
			return s.errf("unterminated string")
		}
		for _, h := range s.b[s.i+2 : s.i+6] {
			if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
				return s.errf("bad \\u escape")
			}
		}
		s.i += 6
		return nil
	}
	return s.errf("bad escape")
}

// unquote decodes the escaped JSON string raw (quotes included); what
// names it in the error.
func unquote(raw []byte, what string) (string, error) {
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("%w: bad %s: %v", ErrMalformed, what, err)
	}
	return v, nil
}

// key reads an object key and the colon after it. Keys are compared, not
// kept, so an unescaped key is returned as a view into the body.
func (s *scanner) key() ([]byte, error) {
	raw, escaped, err := s.rawString()
	if err != nil {
		return nil, err
	}
	k := raw[1 : len(raw)-1]
	if escaped {
		v, err := unquote(raw, "key")
		if err != nil {
			return nil, err
		}
		k = []byte(v)
	}
	return k, s.expect(':')
}

func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '"':
		_, _, err := s.rawString()
		return err
	case c == '{' || c == '[':
		s.depth++
		if s.depth > maxDepth {
			return s.errf("nested deeper than %d", maxDepth)
		}
		err := s.container(c)
		s.depth--
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 0:
		return s.errf("unexpected end")
	default:
		return s.errf("unexpected %q", c)
	}
}

// container skips the object or array that opens with c at the cursor.
func (s *scanner) container(c byte) error {
	s.i++
	end := byte('}')
	if c == '[' {
		end = ']'
	}
	if s.peek() == end {
		s.i++
		return nil
	}
	for {
		if c == '{' {
			if _, err := s.key(); err != nil {
				return err
			}
		}
		if err := s.skip(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case end:
			s.i++
			return nil
		default:
			return s.errf("want ',' or %q", end)
		}
	}
}

func (s *scanner) literal(w string) error {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return s.errf("bad literal")
	}
	s.i += len(w)
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// number checks the JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if s.digits() == 0 {
		return s.errf("bad number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.errf("bad number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.errf("bad number")
		}
	}
	return nil
}

// decodeQuery returns the device ids of a devices/query body,
// {"devices":[{"id":"..","custom_data":{..}},..]}, appending them to ids.
// Unknown keys are skipped; a repeated "devices" or "id" is refused, as its
// meaning would depend on the reader.
//
// run is scratch space for the ids' bytes, kept by the caller for the
// next body; the ids returned do not share it.
func decodeQuery(body []byte, ids []string, run *idRun) ([]string, error) {
	s := scanner{b: body}
	seen := false
	err := s.object(func(k []byte) error {
		if string(k) != "devices" {
			return s.skip()
		}
		if seen {
			return fmt.Errorf("%w: \"devices\" given twice", ErrMalformed)
		}
		seen = true
		var err error
		ids, err = s.queryDevices(ids, run)
		return err
	})
	if err != nil {
		return ids, err
	}
	if s.ws(); s.i < len(s.b) {
		return ids, s.errf("data after the body")
	}
	if !seen {
		return ids, fmt.Errorf("%w: no \"devices\" list", ErrMalformed)
	}
	return ids, nil
}

// object reads a JSON object, calling fn with each key; fn must consume
// the value (s.skip for keys it does not want).
func (s *scanner) object(fn func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		k, err := s.key()
		if err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
		if s.peek() == ',' {
			s.i++
			continue
		}
		return s.expect('}')
	}
}

// queryDevices reads the list of devices of a query, appending their ids
// to ids; q is scratch space. It is the hot path of devices/query: no
// closures, and the ids take one string between them (one allocation, not
// one each), so a caller that keeps one for long must clone it.
func (s *scanner) queryDevices(ids []string, q *idRun) ([]string, error) {
	if err := s.expect('['); err != nil {
		return ids, err
	}
	if s.peek() == ']' {
		s.i++
		return ids, nil
	}
	q.names, q.ends = q.names[:0], q.ends[:0]
	for {
		read := len(q.ends)
		if err := q.device(s, len(ids)+read); err != nil {
			q.ends = q.ends[:read] // not the id of a device that failed
			return q.appendTo(ids), err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return q.appendTo(ids), nil
		default:
			return q.appendTo(ids), s.errf("want ',' or ']'")
		}
	}
}

// idRun gathers a query's ids: their bytes one after another, and where
// each ends. A request's call keeps one for the next request.
type idRun struct {
	names []byte
	ends  []int
}

// device reads one device object of a query, {"id":"..",..}; before is
// the number of devices before it in the body.
func (q *idRun) device(s *scanner, before int) error {
	n := before + 1 // the device's place in the list, for errors
	found := false
	if s.ws(); bytes.HasPrefix(s.b[s.i:], idFirst) {
		// The shape Yandex sends: the id first, without spaces. Read
		// straight, it spares the key's own reading.
		s.i += len(idFirst) - 1
		if err := q.id(s); err != nil {
			return err
		}
		found = true
		if s.peek() == ',' {
			s.i++
		} else {
			return s.expect('}')
		}
	} else if err := s.expect('{'); err != nil {
		return err
	} else if s.peek() == '}' {
		s.i++
		return fmt.Errorf("%w: device %d has no \"id\"", ErrMalformed, n)
	}
	for {
		k, err := s.key()
		if err != nil {
			return err
		}
		if string(k) != "id" {
			if err := s.skip(); err != nil {
				return err
			}
		} else if found {
			return fmt.Errorf("%w: device %d has \"id\" twice", ErrMalformed, n)
		} else if err := q.id(s); err != nil {
			return err
		} else {
			found = true
		}
		if s.peek() == ',' {
			s.i++
			continue
		}
		if err := s.expect('}'); err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: device %d has no \"id\"", ErrMalformed, n)
		}
		return nil
	}
}

// idFirst is how a device object of a query starts when its id comes
// first, as Yandex sends it.
var idFirst = []byte(`{"id":"`)

// id reads a device's id at the cursor.
func (q *idRun) id(s *scanner) error {
	raw, escaped, err := s.rawString()
	if err != nil {
		return err
	}
	if !escaped {
		q.names = append(q.names, raw[1:len(raw)-1]...)
	} else {
		v, err := unquote(raw, "id")
		if err != nil {
			return err
		}
		q.names = append(q.names, v...)
	}
	q.ends = append(q.ends, len(q.names))
	return nil
}

// appendTo appends the ids gathered to ids, as views of one string.
func (q *idRun) appendTo(ids []string) []string {
	if len(q.ends) == 0 {
		return ids
	}
	all, from := string(q.names[:q.ends[len(q.ends)-1]]), 0
	for _, end := range q.ends {
		ids = append(ids, all[from:end])
		from = end
	}
	return ids
}

// actionRequest is the body of devices/action. Values stay raw: their type
// depends on the capability, and a wrong type is a per-capability error.
type actionRequest struct {
	Payload *struct {
		Devices []actionDevice `json:"devices"`
	} `json:"payload"`
}

type actionDevice struct {
	ID           string          `json:"id"`
	CustomData   json.RawMessage `json:"custom_data,omitempty"`
	Capabilities []actionCap     `json:"capabilities"`
}

type actionCap struct {
	Type  string `json:"type"`
	State struct {
		Instance string          `json:"instance"`
		Value    json.RawMessage `json:"value"`
		Relative *bool           `json:"relative"`
	} `json:"state"`
}

// decodeAction parses a devices/action body.
func decodeAction(body []byte) ([]actionDevice, error) {
	var req actionRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if req.Payload == nil {
		return nil, fmt.Errorf("%w: no \"payload\" object", ErrMalformed)
	}
	for i, d := range req.Payload.Devices {
		if d.ID == "" {
			return nil, fmt.Errorf("%w: device %d has no \"id\"", ErrMalformed, i+1)
		}
	}
	return req.Payload.Devices, nil
}
