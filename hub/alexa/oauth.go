package alexa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// The HTTP side of Login with Amazon grants is golang.org/x/oauth2's: its
// refresh-token source and code exchange, with the client id and secret as
// form fields (REFERENCE.md section 2). hubd keeps its own parts around
// it (token.go): the cache with an injectable clock, the stored rotated
// refresh token, the invalid_grant latch, the reply size limit and the
// checks on expires_in and token_type.

// oauth2ReadLimit is how much of a token reply oauth2 reads.
const oauth2ReadLimit = 1 << 20

// grantReply is a checked token reply.
type grantReply struct {
	access, refresh string
	expires         time.Duration
	requestID       string
}

// lwaConfig is the oauth2 configuration of the token source.
func (t *TokenSource) lwaConfig() *oauth2.Config {
	return &oauth2.Config{
		ClientID: t.clientID, ClientSecret: t.secret, Scopes: []string{Scope},
		Endpoint: oauth2.Endpoint{AuthURL: DefaultAuthorizeURL, TokenURL: t.url, AuthStyle: oauth2.AuthStyleInParams},
	}
}

// fetch runs one grant through oauth2 on an HTTP client that limits the
// reply and notes what came back, and maps the outcome onto the package's
// errors. A refused grant is ErrInvalidGrant.
func (t *TokenSource) fetch(ctx context.Context, grant func(context.Context) (*oauth2.Token, error)) (grantReply, error) {
	// oauth2 stops reading at 1 MiB: cap below that, so an oversize reply
	// is seen as one.
	tr := &watchTransport{next: t.http.Transport, max: min(t.maxReply, oauth2ReadLimit-1)}
	if tr.next == nil {
		tr.next = http.DefaultTransport
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: tr, Timeout: t.timeout})
	t.calls++
	tok, err := grant(ctx)
	// The id is unset when oauth2 failed before any round trip (a
	// request it could not build).
	id, _ := tr.requestID.Load().(string)
	rep := grantReply{requestID: id}
	var re *oauth2.RetrieveError
	switch {
	case tr.tooLarge.Load():
		return rep, fmt.Errorf("%w: %w: token reply over %d bytes", ErrToken, ErrReplyTooLarge, t.maxReply)
	case errors.As(err, &re) && re.ErrorCode == "invalid_grant":
		return rep, ErrInvalidGrant
	case errors.As(err, &re):
		code := "no error code"
		if re.ErrorCode != "" {
			code = clip(re.ErrorCode, 64)
			if re.ErrorDescription != "" {
				code += ": " + clip(re.ErrorDescription, 256)
			}
		}
		t.log.Warn("alexa: token endpoint error", "status", tr.status.Load(), "request_id", rep.requestID)
		return rep, fmt.Errorf("%w: token endpoint answered %d (%s, request id %q)", ErrToken, tr.status.Load(), code, rep.requestID)
	case err != nil && tr.status.Load() == http.StatusOK:
		return rep, fmt.Errorf("%w: %w: token reply: %v", ErrToken, ErrMalformedReply, err)
	case err != nil:
		return rep, fmt.Errorf("%w: %v", ErrToken, redactURLError(err))
	}
	return rep, checkToken(tok, &rep)
}

// checkToken fills rep from tok and refuses what hubd cannot use.
func checkToken(tok *oauth2.Token, rep *grantReply) error {
	expires, err := parseExpiresIn(tok.Extra("expires_in"))
	if tok.AccessToken == "" || err != nil {
		return fmt.Errorf("%w: %w: token reply lacks access_token or a valid expires_in", ErrToken, ErrMalformedReply)
	}
	if tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer") {
		return fmt.Errorf("%w: %w: token type %q is not bearer", ErrToken, ErrMalformedReply, clip(tok.TokenType, 32))
	}
	rep.access, rep.refresh, rep.expires = tok.AccessToken, tok.RefreshToken, expires
	return nil
}

// watchTransport notes the status and X-Amzn-RequestId of the token reply,
// has it read as JSON, and cuts its body at max bytes: oauth2 reads up to 1 MiB and keeps no
// error type, so the cut is reported through tooLarge.
type watchTransport struct {
	next      http.RoundTripper
	max       int64
	status    atomic.Int64
	requestID atomic.Value
	tooLarge  atomic.Bool
}

func (w *watchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w.requestID.Store("")
	resp, err := w.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	w.status.Store(int64(resp.StatusCode))
	w.requestID.Store(resp.Header.Get("X-Amzn-RequestId"))
	// Login with Amazon answers JSON (REFERENCE.md section 2); an
	// unlabelled reply must not send oauth2 to its form-encoded parser.
	resp.Header.Set("Content-Type", "application/json")
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: w.max, over: &w.tooLarge}
	return resp, nil
}

// cappedBody fails a read once more than its limit would be read.
type cappedBody struct {
	io.ReadCloser
	left int64
	over *atomic.Bool
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.ReadCloser.Read(one[:]); n > 0 {
			c.over.Store(true)
			return 0, ErrReplyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}
