package alexa

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Unit is one Alexa unit. Name, ParentID and Level are empty unless the list
// was expanded (expand=all).
type Unit struct {
	ID       string
	Name     string
	ParentID string
	Level    int
}

type wireName struct {
	Type  string `json:"type"`
	Value struct {
		Text string `json:"text"`
	} `json:"value"`
}

func plainName(s string) wireName {
	var n wireName
	n.Type = "PLAIN"
	n.Value.Text = s
	return n
}

type wireUnit struct {
	ID       string    `json:"id"`
	Name     *wireName `json:"name"`
	ParentID *string   `json:"parentId"`
	Level    *int      `json:"level"`
}

func (w wireUnit) unit() (Unit, error) {
	if w.ID == "" {
		return Unit{}, fmt.Errorf("%w: unit without id", ErrMalformedReply)
	}
	u := Unit{ID: w.ID}
	if w.Name != nil {
		u.Name = w.Name.Value.Text
	}
	if w.ParentID != nil {
		u.ParentID = *w.ParentID
	}
	if w.Level != nil {
		if *w.Level < 0 || *w.Level > 64 {
			return Unit{}, fmt.Errorf("%w: unit %q has level %d", ErrMalformedReply, w.ID, *w.Level)
		}
		u.Level = *w.Level
	}
	return u, nil
}

type wirePaging struct {
	NextToken string `json:"nextToken"`
}

// decodeUnitList decodes one page of GET /v2/units.
func decodeUnitList(body []byte) ([]Unit, string, error) {
	var w struct {
		Results           *[]wireUnit `json:"results"`
		PaginationContext *wirePaging `json:"paginationContext"`
		NextToken         string      `json:"nextToken"`
	}
	if err := strictJSON(body, &w); err != nil {
		return nil, "", fmt.Errorf("%w: units list: %v", ErrMalformedReply, err)
	}
	if w.Results == nil {
		return nil, "", fmt.Errorf("%w: units list without results", ErrMalformedReply)
	}
	units := make([]Unit, 0, len(*w.Results))
	for _, wu := range *w.Results {
		u, err := wu.unit()
		if err != nil {
			return nil, "", err
		}
		units = append(units, u)
	}
	next := w.NextToken
	if w.PaginationContext != nil && w.PaginationContext.NextToken != "" {
		next = w.PaginationContext.NextToken
	}
	return units, next, nil
}

// decodeUnit decodes GET /v2/units/{id}.
func decodeUnit(body []byte) (Unit, error) {
	var w wireUnit
	if err := strictJSON(body, &w); err != nil {
		return Unit{}, fmt.Errorf("%w: unit: %v", ErrMalformedReply, err)
	}
	return w.unit()
}

// decodeID decodes a create reply {"id": "..."}.
func decodeID(body []byte) (string, error) {
	var w struct {
		ID string `json:"id"`
	}
	if err := strictJSON(body, &w); err != nil {
		return "", fmt.Errorf("%w: create reply: %v", ErrMalformedReply, err)
	}
	if w.ID == "" {
		return "", fmt.Errorf("%w: create reply without id", ErrMalformedReply)
	}
	return w.ID, nil
}

// decodeError turns an error reply into an *APIError. Both body shapes are
// accepted; a body that is not JSON still yields an error with the status.
func decodeError(op string, status int, h http.Header, body []byte) *APIError {
	e := &APIError{Op: op, Status: status, RequestID: h.Get("X-Amzn-RequestId")}
	var w struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	if len(bytes.TrimSpace(body)) > 0 && json.Unmarshal(body, &w) == nil {
		e.Type = clip(w.Type, 128)
		e.Message = clip(w.Message, 512)
	}
	return e
}

// clip shortens s to at most n bytes, on a rune boundary, and drops control
// characters so a hostile body cannot forge log lines.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// decodeList decodes one page of a residential list: the array may sit under
// any of keys, the continuation token under paginationContext.nextToken or
// a top-level nextToken.
func decodeList(body []byte, keys ...string) ([]json.RawMessage, string, error) {
	var m map[string]json.RawMessage
	if err := strictJSON(body, &m); err != nil {
		return nil, "", fmt.Errorf("%w: list: %v", ErrMalformedReply, err)
	}
	if m == nil {
		return nil, "", fmt.Errorf("%w: list is null", ErrMalformedReply)
	}
	var items []json.RawMessage
	found := false
	for _, k := range keys {
		raw, ok := m[k]
		if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, "", fmt.Errorf("%w: list %q: %v", ErrMalformedReply, k, err)
		}
		found = true
		break
	}
	if !found {
		return nil, "", fmt.Errorf("%w: list has none of %v", ErrMalformedReply, keys)
	}
	var next string
	if raw, ok := m["nextToken"]; ok {
		_ = json.Unmarshal(raw, &next) // null or non-string: no next page
	}
	if raw, ok := m["paginationContext"]; ok {
		var p wirePaging
		if json.Unmarshal(raw, &p) == nil && p.NextToken != "" {
			next = p.NextToken
		}
	}
	return items, next, nil
}

// decodeEndpointList decodes one page of GET /v2/endpoints: the ids of the
// endpoints (under "results" or "endpoints") and the next token.
func decodeEndpointList(body []byte) ([]string, string, error) {
	items, next, err := decodeList(body, "results", "endpoints")
	if err != nil {
		return nil, "", fmt.Errorf("%w (endpoints)", err)
	}
	ids := make([]string, 0, len(items))
	for _, raw := range items {
		var e struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, "", fmt.Errorf("%w: endpoint: %v", ErrMalformedReply, err)
		}
		if e.ID == "" {
			return nil, "", fmt.Errorf("%w: endpoint without id", ErrMalformedReply)
		}
		ids = append(ids, clip(e.ID, 256))
	}
	return ids, next, nil
}

// decodeDiscoveryStatus decodes GET /v1/discoverySessions/{id}.
func decodeDiscoveryStatus(body []byte) (string, error) {
	var w struct {
		Status *struct {
			Value string `json:"value"`
		} `json:"status"`
	}
	if err := strictJSON(body, &w); err != nil {
		return "", fmt.Errorf("%w: discovery session: %v", ErrMalformedReply, err)
	}
	if w.Status == nil || w.Status.Value == "" {
		return "", fmt.Errorf("%w: discovery session without status", ErrMalformedReply)
	}
	return clip(w.Status.Value, 64), nil
}

// strictJSON decodes exactly one JSON value (trailing garbage is an error).
func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}
