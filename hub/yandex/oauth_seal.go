package yandex

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
)

// sealedKV authenticates the OAuth server's records (issued tokens and
// authorization codes) in the KV it wraps: each value is stored as the hex
// HMAC-SHA256 of its key and value, a dot, and the value. A record whose
// check fails was changed on disk (a flipped byte could otherwise turn a
// retired refresh token or a used code live again): it is treated as
// revoked, deleted and logged, and never reaches the loaders. Keys of
// other records (revoked configured tokens sharing the KV) pass through.
type sealedKV struct {
	kv  KV
	key []byte
	log *slog.Logger
}

func sealedRecord(k string) bool {
	return strings.HasPrefix(k, issuedPrefix) || strings.HasPrefix(k, codePrefix)
}

func (s sealedKV) mac(k, v string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("hubd oauth record\x00"))
	m.Write([]byte(k))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}

// open returns the value of a sealed record, or ErrRecordCheck.
func (s sealedKV) open(k, v string) (string, error) {
	if !sealedRecord(k) {
		return v, nil
	}
	tag, body, ok := strings.Cut(v, ".")
	if !ok || !hmac.Equal([]byte(tag), []byte(s.mac(k, body))) {
		return "", fmt.Errorf("%w: %s", ErrRecordCheck, clip(k, 80))
	}
	return body, nil
}

func (s sealedKV) Put(k, v string) error {
	if sealedRecord(k) {
		v = s.mac(k, v) + "." + v
	}
	return s.kv.Put(k, v)
}

func (s sealedKV) Delete(k string) error { return s.kv.Delete(k) }

func (s sealedKV) Get(k string) (string, bool, error) {
	v, ok, err := s.kv.Get(k)
	if err != nil || !ok {
		return v, ok, err
	}
	if v, err = s.open(k, v); err != nil {
		s.drop(k, err)
		return "", false, nil
	}
	return v, true, nil
}

// All returns the records that pass their check and deletes the others.
func (s sealedKV) All() (map[string]string, error) {
	all, err := s.kv.All()
	if err != nil {
		return nil, err
	}
	for k, v := range all {
		if body, err := s.open(k, v); err != nil {
			delete(all, k)
			s.drop(k, err)
		} else {
			all[k] = body
		}
	}
	return all, nil
}

// drop deletes a record that failed its check: as revoked.
func (s sealedKV) drop(k string, err error) {
	s.log.Error("stored OAuth record fails its integrity check; it is treated as revoked and deleted", "err", err)
	if derr := s.kv.Delete(k); derr != nil {
		s.log.Warn("changed OAuth record not deleted", "key", clip(k, 80), "err", derr)
	}
}
