package alexa

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// pageSize is the list page size; the API documents 10 as the safe maximum.
const pageSize = 10

// maxPages stops a server that keeps returning a next token.
const maxPages = 100000

// CreateUnit creates a unit named name under parentID and returns its id.
// It is never retried after an unknown outcome: the error then wraps
// ErrOutcomeUnknown and the caller must list the parent before trying again.
func (c *Client) CreateUnit(ctx context.Context, parentID, name string) (string, error) {
	body := struct {
		Name     wireName `json:"name"`
		ParentID string   `json:"parentId"`
	}{plainName(name), parentID}
	rep, err := c.do(ctx, request{method: http.MethodPost, path: "/v2/units", body: body, create: true,
		ok: []int{http.StatusOK, http.StatusCreated}})
	if err != nil {
		return "", err
	}
	id, err := decodeID(rep.body)
	if err != nil {
		// The unit exists but we cannot tell its id: as good as a lost reply.
		return "", fmt.Errorf("alexa: create unit: %w: %w", ErrOutcomeUnknown, err)
	}
	return id, nil
}

// GetUnit returns one unit.
func (c *Client) GetUnit(ctx context.Context, id string) (Unit, error) {
	rep, err := c.do(ctx, request{method: http.MethodGet, path: "/v2/units/" + url.PathEscape(id), ok: []int{http.StatusOK}})
	if err != nil {
		return Unit{}, err
	}
	return decodeUnit(rep.body)
}

// ListQuery selects units to list.
type ListQuery struct {
	ParentID string
	All      bool // queryDepth=all: every descendant, not only children
	Expand   bool // expand=all: names, levels and parent ids
}

// ListUnitsPage returns one page of units and the token of the next page
// ("" on the last).
func (c *Client) ListUnitsPage(ctx context.Context, q ListQuery, next string) ([]Unit, string, error) {
	v := url.Values{"parentId": {q.ParentID}, "maxResults": {strconv.Itoa(pageSize)}}
	if q.All {
		v.Set("queryDepth", "all")
	}
	if q.Expand {
		v.Set("expand", "all")
	}
	if next != "" {
		v.Set("nextToken", next)
	}
	rep, err := c.do(ctx, request{method: http.MethodGet, path: "/v2/units", query: v, ok: []int{http.StatusOK}})
	if err != nil {
		return nil, "", err
	}
	return decodeUnitList(rep.body)
}

// ListUnits returns every unit matching q, following next tokens.
func (c *Client) ListUnits(ctx context.Context, q ListQuery) ([]Unit, error) {
	var all []Unit
	next := ""
	for page := 0; ; page++ {
		if page >= maxPages {
			return nil, fmt.Errorf("%w: units list of %q never ends", ErrMalformedReply, q.ParentID)
		}
		units, tok, err := c.ListUnitsPage(ctx, q, next)
		if err != nil {
			return nil, err
		}
		all = append(all, units...)
		if tok == "" {
			return all, nil
		}
		if tok == next {
			return nil, fmt.Errorf("%w: units list repeats next token", ErrMalformedReply)
		}
		next = tok
	}
}

// RenameUnit sets a unit's name (PUT, idempotent).
func (c *Client) RenameUnit(ctx context.Context, id, name string) error {
	body := struct {
		Name wireName `json:"name"`
	}{plainName(name)}
	_, err := c.do(ctx, request{method: http.MethodPut, path: "/v2/units/" + url.PathEscape(id), body: body,
		ok: []int{http.StatusOK, http.StatusNoContent}})
	return err
}

// DeleteUnit deletes a unit. A unit that is already gone counts as deleted.
func (c *Client) DeleteUnit(ctx context.Context, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: "/v2/units/" + url.PathEscape(id),
		ok: []int{http.StatusOK, http.StatusNoContent, http.StatusNotFound}})
	return err
}

// EnableSkill enables a subscription skill on a property unit, which Alexa
// requires before children can be created under it. stage is "live" when
// empty. A 409 (the skill is already enabled) counts as success: the call
// is repeated after a lost reply.
func (c *Client) EnableSkill(ctx context.Context, skillID, unitID, stage string) error {
	if stage == "" {
		stage = "live"
	}
	body := map[string]string{"unitId": unitID, "stage": stage}
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/skills/" + url.PathEscape(skillID) + "/enablements",
		body: body, ok: []int{http.StatusOK, http.StatusCreated, http.StatusNoContent, http.StatusConflict}})
	return err
}

// ListEndpoints returns the ids of the endpoints associated with a unit
// (GET /v2/endpoints?associatedUnits.id={unit}&expand=all), following next
// tokens.
func (c *Client) ListEndpoints(ctx context.Context, unitID string) ([]string, error) {
	q := url.Values{"associatedUnits.id": {unitID}, "expand": {"all"}}
	var all []string
	prev := ""
	for n := 0; n < maxPages; n++ {
		rep, err := c.do(ctx, request{method: http.MethodGet, path: "/v2/endpoints", query: q, ok: []int{http.StatusOK}})
		if err != nil {
			return nil, err
		}
		ids, next, err := decodeEndpointList(rep.body)
		if err != nil {
			return nil, err
		}
		all = append(all, ids...)
		if next == "" {
			return all, nil
		}
		if next == prev {
			return nil, fmt.Errorf("%w: endpoints list repeats next token", ErrMalformedReply)
		}
		prev = next
		q.Set("nextToken", next)
	}
	return nil, fmt.Errorf("%w: endpoints list of unit %q never ends", ErrMalformedReply, unitID)
}
