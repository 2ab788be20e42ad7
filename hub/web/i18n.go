package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The page's words live in one catalogue per language,
// assets/i18n/<code>.json: a JSON object of message keys to text, with
// "_name" the language's own name for the switch. A third language is one
// more file; nothing else changes.
const (
	i18nDir = "assets/i18n"
	// defaultLang is served when the browser asks for nothing we have.
	defaultLang = "en"
	// maxLangRanges bounds the Accept-Language entries looked at.
	maxLangRanges = 32
)

// Language is one catalogue on offer.
type Language struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// Catalogue is the answer of GET /api/i18n.
type Catalogue struct {
	Lang      string            `json:"lang"`
	Languages []Language        `json:"languages"`
	Messages  map[string]string `json:"messages"`
}

type catalogues struct {
	langs []Language
	msgs  map[string]map[string]string
}

// loadCatalogues reads every catalogue embedded in the binary. A malformed
// one is a build mistake, caught by the tests.
var loadCatalogues = sync.OnceValues(func() (*catalogues, error) {
	ents, err := assets.ReadDir(i18nDir)
	if err != nil {
		return nil, fmt.Errorf("web: i18n: %w", err)
	}
	c := &catalogues{msgs: map[string]map[string]string{}}
	for _, e := range ents {
		code, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := assets.ReadFile(path.Join(i18nDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("web: i18n %s: %w", code, err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("web: i18n %s: %w", code, err)
		}
		c.msgs[code] = m
		c.langs = append(c.langs, Language{Code: code, Name: m["_name"]})
	}
	if c.msgs[defaultLang] == nil {
		return nil, fmt.Errorf("web: i18n: no %s catalogue", defaultLang)
	}
	sort.Slice(c.langs, func(i, j int) bool { return c.langs[i].Code < c.langs[j].Code })
	return c, nil
})

// negotiate picks a catalogue: the one named by want if there is one,
// else the best of the Accept-Language header, else English.
func (c *catalogues) negotiate(want, accept string) string {
	if _, ok := c.msgs[want]; ok {
		return want
	}
	type rng struct {
		lang string
		q    float64
	}
	var rs []rng
	for i, part := range strings.Split(accept, ",") {
		if i == maxLangRanges {
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if _, ok := c.msgs[primary]; ok && q > 0 {
			rs = append(rs, rng{primary, q})
		}
	}
	slices.SortStableFunc(rs, func(a, b rng) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	if len(rs) > 0 {
		return rs[0].lang
	}
	return defaultLang
}

// serveI18n answers the page's catalogue. It holds nothing private (the
// sign-in form needs its words too), so it needs no session.
func (s *Server) serveI18n(w http.ResponseWriter, r *http.Request) {
	c, err := loadCatalogues()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lang := c.negotiate(r.URL.Query().Get("lang"), r.Header.Get("Accept-Language"))
	msgs := c.msgs[lang]
	if lang != defaultLang {
		// A message the catalogue lacks is shown in English, not as its key.
		full := make(map[string]string, len(c.msgs[defaultLang]))
		for k, v := range c.msgs[defaultLang] {
			full[k] = v
		}
		for k, v := range msgs {
			full[k] = v
		}
		msgs = full
	}
	w.Header().Set("Vary", "Accept-Language")
	writeJSON(w, http.StatusOK, Catalogue{Lang: lang, Languages: c.langs, Messages: msgs})
}
