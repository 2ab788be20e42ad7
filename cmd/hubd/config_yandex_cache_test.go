package main

import (
	"strings"
	"testing"
)

// yandex.query_cache is 0 (the default), -1 or a device count up to its
// bound; anything else is refused at its line.
func TestCheckConfig_QueryCache(t *testing.T) {
	with := func(v string) string {
		s := exampleWith(t, "")
		const anchor = "yandex:\n"
		if !strings.Contains(s, anchor) {
			t.Fatal("example config changed: no yandex section")
		}
		return strings.Replace(s, anchor, anchor+"  query_cache: "+v+"\n", 1)
	}
	for _, ok := range []string{"0", "-1", "1", "2000", "100000"} {
		c, err := ParseConfig("hubd.yaml", []byte(with(ok)))
		if err != nil {
			t.Errorf("query_cache: %s refused: %v", ok, err)
			continue
		}
		if got := c.Yandex.QueryCache; ok != "0" && got == 0 {
			t.Errorf("query_cache: %s read as %d", ok, got)
		}
	}
	for _, bad := range []string{"-2", "100001"} {
		s := with(bad)
		_, err := ParseConfig("hubd.yaml", []byte(s))
		es, ok := err.(ConfigErrors)
		if !ok || len(es) != 1 || !strings.Contains(es[0].Msg, "yandex.query_cache "+bad) || es[0].Line != lineOfText(s, "query_cache: "+bad) {
			t.Errorf("query_cache: %s: %v; want one error at line %d", bad, err, lineOfText(s, "query_cache: "+bad))
		}
	}
}

// The bound is built into the API at start: a reload that changes it is
// refused with the reason, one that keeps it goes through.
func TestReload_QueryCacheNeedsARestart(t *testing.T) {
	parse := func(v string) *Config {
		t.Helper()
		s := strings.Replace(exampleWith(t, ""), "yandex:\n", "yandex:\n  query_cache: "+v+"\n", 1)
		c, err := ParseConfig("hubd.yaml", []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := checkYandexReload(parse("500"), parse("500")); err != nil {
		t.Fatalf("the same bound: %v", err)
	}
	if err := checkYandexReload(parse("500"), parse("600")); err == nil || !strings.Contains(err.Error(), "yandex.query_cache changes only with a restart") {
		t.Fatalf("a changed bound: %v, want it refused until a restart", err)
	}
}
