package mqtt

import "fmt"

// checkJSON reports whether p is exactly one JSON value with optional
// whitespace around it, by the grammar encoding/json accepts (json.Valid):
// bytes that are not UTF-8 are allowed inside strings, control characters
// are not; nesting deeper than maxJSONDepth is refused. The errors are
// ErrBadPayload and say where and what was wrong.
func checkJSON(p []byte) error {
	s := jsonChecker{p: p}
	for {
		open, err := s.value()
		if err != nil {
			return err
		}
		if open {
			continue // a container began: its first value is next
		}
		more, err := s.after()
		if err != nil || !more {
			return err
		}
	}
}

// jsonChecker walks a JSON text; i is the next byte to read, objs a bit
// per open container (1: an object, 0: an array), on the stack of its
// caller (about 1.2 KB).
type jsonChecker struct {
	p     []byte
	i     int
	depth int
	objs  [(maxJSONDepth + 63) / 64]uint64
}

// value reads one value. For a non-empty object or array it reads only
// the opening (and an object's first member name) and says open.
func (s *jsonChecker) value() (open bool, err error) {
	s.i = skipJSONSpace(s.p, s.i)
	if s.i >= len(s.p) {
		return false, s.truncated("a value")
	}
	switch c := s.p[s.i]; c {
	case '{', '[':
		if err := s.push(c == '{'); err != nil {
			return false, err
		}
		s.i = skipJSONSpace(s.p, s.i+1)
		if s.i < len(s.p) && s.p[s.i] == c+2 { // '}' is '{'+2, ']' is '['+2
			s.i++
			s.depth--
			return false, nil
		}
		if c == '{' {
			return true, s.name()
		}
		return true, nil
	case '"':
		end, _, err := jsonString(s.p, s.i)
		s.i = end
		return false, err
	case 't', 'f', 'n':
		return false, s.literal()
	}
	end, err := jsonNumber(s.p, s.i)
	s.i = end
	return false, err
}

// after reads what follows a complete value: the ends of the containers
// it closes, then a ',' (and a member name) or the end of the text. more
// is false at the end of the text.
func (s *jsonChecker) after() (more bool, err error) {
	for {
		s.i = skipJSONSpace(s.p, s.i)
		if s.depth == 0 {
			if s.i < len(s.p) {
				return false, s.unexpected("the end after the top-level value")
			}
			return false, nil
		}
		obj := s.inObject()
		want, close := "',' or ']'", byte(']')
		if obj {
			want, close = "',' or '}'", '}'
		}
		if s.i >= len(s.p) {
			return false, s.truncated(want)
		}
		switch s.p[s.i] {
		case ',':
			s.i++
			if obj {
				return true, s.name()
			}
			return true, nil
		case close:
			s.i++
			s.depth--
		default:
			return false, s.unexpected(want)
		}
	}
}

// name reads a member name and its ':'.
func (s *jsonChecker) name() error {
	s.i = skipJSONSpace(s.p, s.i)
	if s.i >= len(s.p) {
		return s.truncated("a member name")
	}
	if s.p[s.i] != '"' {
		return s.unexpected("a member name")
	}
	end, _, err := jsonString(s.p, s.i)
	if err != nil {
		return err
	}
	s.i = skipJSONSpace(s.p, end)
	if s.i >= len(s.p) {
		return s.truncated("':'")
	}
	if s.p[s.i] != ':' {
		return s.unexpected("':'")
	}
	s.i++
	return nil
}

// literal reads true, false or null.
func (s *jsonChecker) literal() error {
	word := "null"
	switch s.p[s.i] {
	case 't':
		word = "true"
	case 'f':
		word = "false"
	}
	for k := 0; k < len(word); k++ {
		if s.i >= len(s.p) {
			return s.truncated(word)
		}
		if s.p[s.i] != word[k] {
			return s.unexpected(word)
		}
		s.i++
	}
	return nil
}

func (s *jsonChecker) push(obj bool) error {
	if s.depth >= maxJSONDepth {
		return badf("JSON nested deeper than %d levels at byte %d", maxJSONDepth, s.i)
	}
	w, bit := s.depth/64, uint64(1)<<(s.depth%64)
	if obj {
		s.objs[w] |= bit
	} else {
		s.objs[w] &^= bit
	}
	s.depth++
	return nil
}

// inObject reports whether the innermost open container is an object.
func (s *jsonChecker) inObject() bool {
	d := s.depth - 1
	return s.objs[d/64]&(1<<(d%64)) != 0
}

func (s *jsonChecker) truncated(want string) error {
	return badf("JSON ends at byte %d, want %s", len(s.p), want)
}

func (s *jsonChecker) unexpected(want string) error {
	return unexpectedByte(s.p, s.i, want)
}

func unexpectedByte(p []byte, i int, want string) error {
	return badf("invalid character %s at byte %d, want %s", quoteByte(p[i]), i, want)
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f && c != '\'' {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("%#02x", c)
}

// jsonString checks the string that starts at p[i] (a '"') and returns
// its end; plain is true when it has no escapes.
func jsonString(p []byte, i int) (end int, plain bool, err error) {
	plain = true
	for i++; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"':
			return i + 1, plain, nil
		case c == '\\':
			plain = false
			if i+1 >= len(p) {
				return len(p), false, badf("JSON ends at byte %d, inside an escape", len(p))
			}
			i++
			switch p[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for k := 0; k < 4; k++ {
					if i++; i >= len(p) {
						return len(p), false, badf("JSON ends at byte %d, inside a \\u escape", len(p))
					}
					if !isHex(p[i]) {
						return i, false, unexpectedByte(p, i, "a hex digit of a \\u escape")
					}
				}
			default:
				return i, false, unexpectedByte(p, i, "an escape (one of \"\\/bfnrtu)")
			}
		case c < 0x20:
			return i, false, unexpectedByte(p, i, "no control character in a string")
		}
	}
	return len(p), false, badf("JSON ends at byte %d, inside a string", len(p))
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// jsonNumber checks the number that starts at p[i] and returns its end:
// an optional '-', an integer part without leading zeros, an optional
// fraction and exponent, each with at least one digit. What follows it
// is the caller's to check.
func jsonNumber(p []byte, i int) (end int, err error) {
	digits := func(what string) error {
		if i >= len(p) {
			return badf("JSON ends at byte %d, inside a number", len(p))
		}
		if !isDigit(p[i]) {
			return unexpectedByte(p, i, what)
		}
		for i < len(p) && isDigit(p[i]) {
			i++
		}
		return nil
	}
	if i < len(p) && p[i] == '-' {
		i++
	}
	if i < len(p) && p[i] == '0' {
		i++ // a leading zero is the whole integer part
	} else if err := digits("a value"); err != nil {
		return i, err
	}
	if i < len(p) && p[i] == '.' {
		i++
		if err := digits("a digit after the decimal point"); err != nil {
			return i, err
		}
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		if err := digits("a digit of the exponent"); err != nil {
			return i, err
		}
	}
	return i, nil
}
