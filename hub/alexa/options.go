package alexa

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Regional API hosts.
const (
	BaseNA = "https://api.amazonalexa.com"
	BaseEU = "https://api.eu.amazonalexa.com"
	BaseFE = "https://api.fe.amazonalexa.com"

	// DefaultTokenURL is the Login with Amazon token endpoint.
	DefaultTokenURL = "https://api.amazon.com/auth/o2/token"
)

// retrySchedule is the published sample back-off, in units of RetryBase.
var retrySchedule = []int{2, 3, 5, 8, 13, 21}

// Options configure a Client and a Syncer. Every zero value is usable
// except the credentials, ParentID and (for discovery) SkillID.
type Options struct {
	// Region picks the API host: "NA" (default), "EU" or "FE".
	Region string
	// APIBase overrides Region, e.g. a simulator URL. No trailing slash needed.
	APIBase string
	// TokenURL is the Login with Amazon token endpoint; default DefaultTokenURL.
	TokenURL string

	// ClientID, ClientSecret and RefreshToken are the LWA credentials. A
	// rotated refresh token is stored in KV and used from then on, until
	// RefreshToken is changed here.
	ClientID, ClientSecret, RefreshToken string

	// ParentID is the organization or property unit the building units are
	// created under (and the organization id of home communities).
	ParentID string
	// SkillID and SkillStage name the endpoint reporter of discovery
	// sessions. SkillStage is "live" (default) or "development", sent in
	// lower case as the discovery document's example has it (discovery doc
	// line 59) and as skill enablements take it (REFERENCE.md section 2);
	// other casings are folded. Without SkillID no discovery sessions are
	// started.
	SkillID, SkillStage string
	// SubscriptionSkillID is the subscription skill Alexa requires on a
	// property (level 1) unit before units can be created under it. When
	// set, every building unit the sync creates directly under an
	// organization (ParentID is level 0) gets the skill enabled (stage
	// "live") before its children are created, and the enablement is
	// recorded in the KV so it is made once. Empty: no enablement (ParentID
	// is a property already, or enablement is done by hand).
	SubscriptionSkillID string
	// Residential maps buildings that contain nodes of kind "home" to home
	// communities and those nodes to homes (Alexa for Residential, US/CA
	// only). Off by default: every node becomes a unit.
	Residential bool

	// KV persists the id map and the rotated refresh token. Nil: an
	// in-memory map (everything is lost on restart; tests and dry runs only).
	KV KV
	// HTTPClient sends the requests; nil: a client with CallTimeout.
	HTTPClient *http.Client
	// Logger receives operational logs; nil discards.
	Logger *slog.Logger

	// CallTimeout bounds each HTTP attempt; default 30s.
	CallTimeout time.Duration
	// RetryBase scales the retry schedule 2,3,5,8,13,21 (jittered ±20%);
	// default 1s. Tests use a millisecond.
	RetryBase time.Duration
	// MaxRetries caps retries of one call; default 6; negative: none.
	MaxRetries int
	// MaxRetryAfter caps a server's Retry-After; default 5 minutes.
	MaxRetryAfter time.Duration
	// RatePerSecond limits calls (all of them, shared); default 5;
	// negative: unlimited. Ignored when Limiter is set.
	RatePerSecond float64
	// Limiter, when set, is shared with other clients of the same
	// organization.
	Limiter *rate.Limiter
	// MaxReplyBytes limits reply bodies; default 1 MiB.
	MaxReplyBytes int64

	// CreateCheckTries is how many times, after a create whose reply was
	// lost, the parent's children are listed (with growing delays) looking
	// for the new object before it is created again: lists may lag behind
	// writes. Default 3.
	CreateCheckTries int
	// CreateCheckDelay is the delay before the first of those listings;
	// it doubles after each. Default RetryBase (1s, 2s, 4s: about 7s
	// before an unseen create is made again).
	CreateCheckDelay time.Duration

	// DiscoveryPoll is the interval between polls of a discovery session;
	// default 5s.
	DiscoveryPoll time.Duration
	// DiscoveryWait is how long one Sync waits for its sessions to finish;
	// default 2 minutes. Sessions still running are polled by the next Sync,
	// until their hour runs out.
	DiscoveryWait time.Duration

	// Now is the clock; default time.Now.
	Now func() time.Time
}

// CheckURL refuses an endpoint address (API base, token URL) that is not
// an absolute http(s) URL with a host: oauth2 and net/http would fail on
// it at every call instead of once at start. what names the address in
// the error.
func CheckURL(what, s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %s %q is not a URL", ErrNotConfigured, what, s)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: %s %q is not an http(s) URL", ErrNotConfigured, what, s)
	case u.Host == "":
		return fmt.Errorf("%w: %s %q has no host", ErrNotConfigured, what, s)
	}
	return nil
}

// withDefaults fills zero values and checks what must be set.
func (o Options) withDefaults() (Options, error) {
	if o.APIBase == "" {
		switch strings.ToUpper(o.Region) {
		case "", "NA":
			o.APIBase = BaseNA
		case "EU":
			o.APIBase = BaseEU
		case "FE":
			o.APIBase = BaseFE
		default:
			return o, fmt.Errorf("%w: unknown region %q (want NA, EU or FE)", ErrNotConfigured, o.Region)
		}
	}
	o.APIBase = strings.TrimRight(o.APIBase, "/")
	if err := CheckURL("API base", o.APIBase); err != nil {
		return o, err
	}
	if o.TokenURL == "" {
		o.TokenURL = DefaultTokenURL
	}
	if err := CheckURL("token URL", o.TokenURL); err != nil {
		return o, err
	}
	o.SkillStage = strings.ToLower(o.SkillStage)
	switch o.SkillStage {
	case "":
		o.SkillStage = "live"
	case "live", "development":
	default:
		return o, fmt.Errorf("%w: skill stage %q (want live or development)", ErrNotConfigured, o.SkillStage)
	}
	if o.KV == nil {
		o.KV = NewMemKV()
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.CallTimeout}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.CreateCheckTries <= 0 {
		o.CreateCheckTries = 3
	}
	if o.CreateCheckDelay <= 0 {
		o.CreateCheckDelay = o.RetryBase
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = len(retrySchedule)
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 5 * time.Minute
	}
	if o.RatePerSecond == 0 {
		o.RatePerSecond = 5
	}
	if o.Limiter == nil {
		o.Limiter = NewLimiter(o.RatePerSecond)
	}
	if o.MaxReplyBytes <= 0 {
		o.MaxReplyBytes = 1 << 20
	}
	if o.DiscoveryPoll <= 0 {
		o.DiscoveryPoll = 5 * time.Second
	}
	if o.DiscoveryWait <= 0 {
		o.DiscoveryWait = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
