package alexa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const residentialBase = "/enterprise/residential/v1"

// Community is an Alexa for Residential home community.
type Community struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	OrganizationID string `json:"organizationId"`
}

// Home is an Alexa for Residential home. The documented home object
// (residential doc lines 389-398) has no state: whether a home is OCCUPIED
// or LINKED, and so read-only for the enterprise (REFERENCE.md section 2),
// shows only as a 403 to PUT or DELETE (residential doc lines 541, 591).
type Home struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	HomeCommunityID string `json:"homeCommunityId"`
}

func decodeHome(raw []byte) (Home, error) {
	var h Home
	if err := json.Unmarshal(raw, &h); err != nil {
		return Home{}, fmt.Errorf("%w: home: %v", ErrMalformedReply, err)
	}
	if h.ID == "" {
		return Home{}, fmt.Errorf("%w: home without id", ErrMalformedReply)
	}
	return h, nil
}

func decodeCommunity(raw []byte) (Community, error) {
	var c Community
	if err := json.Unmarshal(raw, &c); err != nil {
		return Community{}, fmt.Errorf("%w: home community: %v", ErrMalformedReply, err)
	}
	if c.ID == "" {
		return Community{}, fmt.Errorf("%w: home community without id", ErrMalformedReply)
	}
	return c, nil
}

// decodeCommunityList decodes one page of the home community list.
func decodeCommunityList(body []byte) ([]Community, string, error) {
	items, next, err := decodeList(body, "homeCommunities", "results")
	if err != nil {
		return nil, "", err
	}
	out := make([]Community, 0, len(items))
	for _, raw := range items {
		c, err := decodeCommunity(raw)
		if err != nil {
			return nil, "", err
		}
		out = append(out, c)
	}
	return out, next, nil
}

// decodeHomeList decodes one page of the home list.
func decodeHomeList(body []byte) ([]Home, string, error) {
	items, next, err := decodeList(body, "homes", "results")
	if err != nil {
		return nil, "", err
	}
	out := make([]Home, 0, len(items))
	for _, raw := range items {
		h, err := decodeHome(raw)
		if err != nil {
			return nil, "", err
		}
		out = append(out, h)
	}
	return out, next, nil
}

// createResidential posts body and returns the new id from the body or,
// failing that, the Location header.
func (c *Client) createResidential(ctx context.Context, path string, body any) (string, error) {
	rep, err := c.do(ctx, request{method: http.MethodPost, path: path, body: body, create: true,
		ok: []int{http.StatusOK, http.StatusCreated}})
	if err != nil {
		return "", err
	}
	if id, err := decodeID(rep.body); err == nil {
		return id, nil
	}
	loc := strings.Trim(rep.header.Get("Location"), `"`)
	if i := strings.LastIndexByte(loc, '/'); i >= 0 && i < len(loc)-1 {
		if id, err := url.PathUnescape(loc[i+1:]); err == nil {
			return id, nil
		}
	}
	return "", fmt.Errorf("alexa: POST %s: %w: %w: no id in body or Location", path, ErrOutcomeUnknown, ErrMalformedReply)
}

// CreateCommunity creates a home community in organization orgID.
func (c *Client) CreateCommunity(ctx context.Context, orgID, name string) (string, error) {
	return c.createResidential(ctx, residentialBase+"/homeCommunities",
		map[string]string{"name": name, "organizationId": orgID})
}

// GetCommunity returns one home community.
func (c *Client) GetCommunity(ctx context.Context, id string) (Community, error) {
	rep, err := c.do(ctx, request{method: http.MethodGet, path: residentialBase + "/homeCommunities/" + url.PathEscape(id), ok: []int{http.StatusOK}})
	if err != nil {
		return Community{}, err
	}
	return decodeCommunity(rep.body)
}

// ListCommunities returns every home community of organization orgID.
func (c *Client) ListCommunities(ctx context.Context, orgID string) ([]Community, error) {
	var all []Community
	err := c.pages(ctx, residentialBase+"/homeCommunities", url.Values{"organizationId": {orgID}}, func(body []byte) (string, error) {
		items, next, err := decodeCommunityList(body)
		all = append(all, items...)
		return next, err
	})
	return all, err
}

// UpdateCommunity renames a home community.
func (c *Client) UpdateCommunity(ctx context.Context, cm Community) error {
	_, err := c.do(ctx, request{method: http.MethodPut, path: residentialBase + "/homeCommunities/" + url.PathEscape(cm.ID),
		body: cm, ok: []int{http.StatusOK, http.StatusNoContent}})
	return err
}

// DeleteCommunity deletes a home community; one already gone counts as deleted.
func (c *Client) DeleteCommunity(ctx context.Context, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: residentialBase + "/homeCommunities/" + url.PathEscape(id),
		ok: []int{http.StatusOK, http.StatusNoContent, http.StatusNotFound}})
	return err
}

// CreateHome creates a home in a home community.
func (c *Client) CreateHome(ctx context.Context, communityID, name string) (string, error) {
	return c.createResidential(ctx, residentialBase+"/homes",
		map[string]string{"name": name, "homeCommunityId": communityID})
}

// GetHome returns one home.
func (c *Client) GetHome(ctx context.Context, id string) (Home, error) {
	rep, err := c.do(ctx, request{method: http.MethodGet, path: residentialBase + "/homes/" + url.PathEscape(id), ok: []int{http.StatusOK}})
	if err != nil {
		return Home{}, err
	}
	return decodeHome(rep.body)
}

// ListHomes returns every home of a home community.
func (c *Client) ListHomes(ctx context.Context, communityID string) ([]Home, error) {
	var all []Home
	err := c.pages(ctx, residentialBase+"/homes", url.Values{"homeCommunityId": {communityID}}, func(body []byte) (string, error) {
		items, next, err := decodeHomeList(body)
		all = append(all, items...)
		return next, err
	})
	return all, err
}

// UpdateHome renames a home. A 403 (an occupied or linked home, which the
// enterprise may not change) comes back wrapping ErrReadOnlyHome.
func (c *Client) UpdateHome(ctx context.Context, h Home) error {
	_, err := c.do(ctx, request{method: http.MethodPut, path: residentialBase + "/homes/" + url.PathEscape(h.ID),
		body: h, ok: []int{http.StatusOK, http.StatusNoContent}})
	return readOnlyHome(err)
}

// DeleteHome deletes a home; one already gone counts as deleted. A 403
// comes back wrapping ErrReadOnlyHome, as for UpdateHome.
func (c *Client) DeleteHome(ctx context.Context, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: residentialBase + "/homes/" + url.PathEscape(id),
		ok: []int{http.StatusOK, http.StatusNoContent, http.StatusNotFound}})
	return readOnlyHome(err)
}

// readOnlyHome marks a 403 to a home change as ErrReadOnlyHome: the API
// answers 403 when "the user doesn't have permission" (residential doc
// lines 541, 591), which for a home the token may otherwise change is an
// OCCUPIED or LINKED home (REFERENCE.md section 2).
func readOnlyHome(err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden {
		return fmt.Errorf("%w: %w", ErrReadOnlyHome, err)
	}
	return err
}

// pages follows a residential list (maxResults 10, nextToken).
func (c *Client) pages(ctx context.Context, path string, q url.Values, page func([]byte) (string, error)) error {
	q.Set("maxResults", strconv.Itoa(pageSize))
	prev := ""
	for n := 0; n < maxPages; n++ {
		rep, err := c.do(ctx, request{method: http.MethodGet, path: path, query: q, ok: []int{http.StatusOK}})
		if err != nil {
			return err
		}
		next, err := page(rep.body)
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		if next == prev {
			return fmt.Errorf("%w: %s repeats next token", ErrMalformedReply, path)
		}
		prev = next
		q.Set("nextToken", next)
	}
	return fmt.Errorf("%w: %s never ends", ErrMalformedReply, path)
}
