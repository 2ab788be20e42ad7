package alexa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// Client makes typed calls to the Alexa API through one rate limiter and one
// retry policy. It is safe for concurrent use.
type Client struct {
	opts   Options
	tokens *TokenSource
	log    *slog.Logger
	calls  atomic.Uint64
	failed atomic.Uint64
}

// NewClient returns a client for opts (see Options for zero values).
func NewClient(opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return newClient(o), nil
}

func newClient(o Options) *Client {
	return &Client{opts: o, tokens: newTokenSource(&o, o.KV, o.Logger), log: o.Logger}
}

// Tokens returns the client's token source.
func (c *Client) Tokens() *TokenSource { return c.tokens }

// Calls returns how many HTTP requests the client sent to the API (retries
// included, token calls excluded).
func (c *Client) Calls() uint64 { return c.calls.Load() }

// CallsFailed returns how many of Calls did not get an accepted reply:
// transport errors, dropped connections, oversize bodies and error
// statuses, retried ones included.
func (c *Client) CallsFailed() uint64 { return c.failed.Load() }

// request describes one API call.
type request struct {
	method string
	path   string // escaped path
	query  url.Values
	body   any
	// create marks a call that is not idempotent: it is retried only after
	// a 429 (which the server did not act on); anything else whose outcome
	// is unknown comes back as ErrOutcomeUnknown for the caller to look.
	create bool
	ok     []int // accepted statuses
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r request) op() string { return r.method + " " + r.path }

// do sends r with the retry policy.
func (c *Client) do(ctx context.Context, r request) (reply, error) {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return reply{}, fmt.Errorf("alexa: %s: encode body: %w", r.op(), err)
		}
	}
	u := c.opts.APIBase + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	reauthed := false
	for attempt := 0; ; attempt++ {
		rep, err := c.once(ctx, r, u, payload)
		if err == nil && !slices.Contains(r.ok, rep.status) {
			c.failed.Add(1)
		}
		if err != nil {
			if ctx.Err() != nil {
				return reply{}, fmt.Errorf("alexa: %s: %w", r.op(), ctx.Err())
			}
			if errors.Is(err, ErrInvalidGrant) || errors.Is(err, ErrToken) || errors.Is(err, ErrNotConfigured) {
				return reply{}, err
			}
			if r.create {
				return reply{}, fmt.Errorf("alexa: %s: %w: %v", r.op(), ErrOutcomeUnknown, err)
			}
			if attempt >= c.opts.MaxRetries {
				return reply{}, fmt.Errorf("alexa: %s: giving up after %d attempts: %w", r.op(), attempt+1, err)
			}
			c.log.Warn("alexa: call failed, retrying", "op", r.op(), "attempt", attempt+1, "err", err)
			if err := sleep(ctx, c.backoff(attempt, nil)); err != nil {
				return reply{}, fmt.Errorf("alexa: %s: %w", r.op(), err)
			}
			continue
		}
		if slices.Contains(r.ok, rep.status) {
			return rep, nil
		}
		apiErr := decodeError(r.op(), rep.status, rep.header, rep.body)
		// Every error at warn with its X-Amzn-RequestId, so a support case
		// can be traced (residential doc line 35, REFERENCE.md section 2).
		c.log.Warn("alexa: call answered with an error", "op", r.op(), "status", rep.status,
			"type", apiErr.Type, "request_id", apiErr.RequestID, "attempt", attempt+1)
		switch {
		case rep.status == http.StatusUnauthorized && !reauthed:
			// The cached token may have been revoked early: fetch a new one once.
			reauthed = true
			c.tokens.Invalidate()
			attempt--
			continue
		case rep.status == http.StatusTooManyRequests,
			!r.create && (rep.status == 500 || rep.status == 502 || rep.status == 503 || rep.status == 504):
			if attempt >= c.opts.MaxRetries {
				return reply{}, fmt.Errorf("alexa: giving up after %d attempts: %w", attempt+1, apiErr)
			}
			d := c.backoff(attempt, rep.header)
			c.log.Warn("alexa: call throttled or failed, retrying", "op", r.op(), "status", rep.status,
				"type", apiErr.Type, "request_id", apiErr.RequestID, "attempt", attempt+1, "delay", d.String())
			if err := sleep(ctx, d); err != nil {
				return reply{}, fmt.Errorf("alexa: %s: %w", r.op(), err)
			}
			continue
		case r.create && rep.status >= 500:
			return reply{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, apiErr)
		}
		return reply{}, apiErr
	}
}

// once makes one attempt: limiter, token, request, size-limited body.
func (c *Client) once(ctx context.Context, r request, u string, payload []byte) (reply, error) {
	if err := c.opts.Limiter.Wait(ctx); err != nil {
		return reply{}, err
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return reply{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return reply{}, fmt.Errorf("%w: build request: %v", ErrNotConfigured, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.calls.Add(1)
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		c.failed.Add(1)
		return reply{}, redactURLError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxReplyBytes+1))
	if err != nil {
		c.failed.Add(1)
		return reply{}, fmt.Errorf("read reply: %w", err)
	}
	// Every call at debug with its X-Amzn-RequestId.
	c.log.Debug("alexa: call", "op", r.op(), "status", resp.StatusCode, "request_id", resp.Header.Get("X-Amzn-RequestId"))
	if int64(len(data)) > c.opts.MaxReplyBytes {
		c.failed.Add(1)
		// Drain a little so the connection can be reused, then fail.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		return reply{}, fmt.Errorf("%w: %s over %d bytes", ErrReplyTooLarge, r.op(), c.opts.MaxReplyBytes)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// backoff returns the delay before retry number attempt+1: Retry-After when
// the server sent one (capped), else the schedule scaled by RetryBase with
// ±20% jitter so gateways throttled together do not retry together.
func (c *Client) backoff(attempt int, h http.Header) time.Duration {
	if h != nil {
		if d, ok := parseRetryAfter(h.Get("Retry-After"), c.opts.Now()); ok {
			return min(d, c.opts.MaxRetryAfter)
		}
	}
	i := min(attempt, len(retrySchedule)-1)
	d := time.Duration(retrySchedule[i]) * c.opts.RetryBase
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}
