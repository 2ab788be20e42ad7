package yandex

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Authorization codes are kept in OAuthOptions.Tokens too, under
// codePrefix + the hex sha256 of the code, so that a restart between the
// login and the exchange does not break the linking. A code is marked used
// in the store before its tokens are issued, so it stays single-use across
// restarts; expired codes are deleted at start and when pruned. With no
// KV, codes live in memory and one presented after a restart is refused as
// unknown (invalid_grant).
const codePrefix = "oauth-code/"

// codeRecord is the stored form of an authCode.
type codeRecord struct {
	User          string `json:"u"`
	ClientID      string `json:"c"`
	RedirectURI   string `json:"r"`
	RedirectGiven bool   `json:"rg,omitempty"`
	Scope         string `json:"s,omitempty"`
	Grant         string `json:"g"`
	Expires       int64  `json:"exp"` // unix milliseconds
	Used          bool   `json:"used,omitempty"`
}

func codeKey(d [sha256.Size]byte) string { return codePrefix + hex.EncodeToString(d[:]) }

func (ac *authCode) record() codeRecord {
	return codeRecord{User: ac.user, ClientID: ac.clientID, RedirectURI: ac.redirectURI, RedirectGiven: ac.redirectGiven,
		Scope: ac.scope, Grant: ac.grant, Expires: ac.exp.UnixMilli(), Used: ac.used}
}

func (r *codeRecord) code() *authCode {
	return &authCode{user: r.User, clientID: r.ClientID, redirectURI: r.RedirectURI, redirectGiven: r.RedirectGiven,
		scope: r.Scope, grant: r.Grant, exp: time.UnixMilli(r.Expires), used: r.Used}
}

// persistCode writes a code's current form; with no KV it does nothing.
func (o *oauthServer) persistCode(d [sha256.Size]byte, ac *authCode) error {
	if o.opts.Tokens == nil {
		return nil
	}
	v, _ := json.Marshal(ac.record())
	if err := o.opts.Tokens.Put(codeKey(d), string(v)); err != nil {
		return fmt.Errorf("yandex: persist authorization code: %w", err)
	}
	return nil
}

// dropCodes deletes codes, already gone from memory, from the KV; a failed
// delete only means the entry is dropped at the next start.
func (o *oauthServer) dropCodes(ds [][sha256.Size]byte) {
	if o.opts.Tokens == nil {
		return
	}
	for _, d := range ds {
		if err := o.opts.Tokens.Delete(codeKey(d)); err != nil {
			o.log.Warn("authorization code not deleted from the store", "err", err)
			return
		}
	}
}

// loadCodes reads the codes that have not expired, at most maxCodes, and
// deletes the others.
func (o *oauthServer) loadCodes(now time.Time) error {
	if o.opts.Tokens == nil {
		return nil
	}
	all, err := o.opts.Tokens.All()
	if err != nil {
		return fmt.Errorf("yandex: load authorization codes: %w", err)
	}
	var drop []string
	for k, v := range all {
		if !strings.HasPrefix(k, codePrefix) {
			continue
		}
		var r codeRecord
		b, err := hex.DecodeString(k[len(codePrefix):])
		if err == nil && len(b) != sha256.Size {
			err = errors.New("bad digest length")
		}
		if err == nil {
			err = json.Unmarshal([]byte(v), &r)
		}
		if err == nil && (r.User == "" || r.Grant == "" || r.ClientID == "") {
			err = errors.New("incomplete entry")
		}
		if err != nil || now.UnixMilli() >= r.Expires || len(o.codes) >= maxCodes {
			if err != nil {
				o.log.Warn("dropping unreadable authorization code entry", "key", clip(k, 80), "err", err)
			}
			drop = append(drop, k)
			continue
		}
		o.codes[[sha256.Size]byte(b)] = r.code()
	}
	for _, k := range drop {
		if err := o.opts.Tokens.Delete(k); err != nil {
			return fmt.Errorf("yandex: prune authorization codes: %w", err)
		}
	}
	return nil
}
