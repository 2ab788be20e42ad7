package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hubd/hub"
	"hubd/store"
)

func TestDataDirLine(t *testing.T) {
	for _, tc := range []struct {
		text string
		dir  string
		ok   bool
	}{
		{"gateway:\n  name: x\ndata_dir: /srv/hubd\n", "/srv/hubd", true},
		{"data_dir: /srv/hubd/  \r\nhttp:\n", "/srv/hubd", true},
		{"gateway:\n  name: x\n", defaultDataDir, true},
		{"gateway:\n  data_dir: /nested\n", defaultDataDir, true}, // not the top-level key
		{"data_dir: \"/srv/hubd\"\n", "", false},
		{"data_dir: /srv/hubd # here\n", "", false},
		{"data_dir: &d /srv/hubd\n", "", false},
		{"data_dir: *d\n", "", false},
		{"data_dir: srv/hubd\n", "", false},
		{"data_dir:\n", "", false},
		{"data_dir: /a\ndata_dir: /b\n", "", false},
	} {
		dir, ok := dataDirLine([]byte(tc.text))
		if dir != tc.dir || ok != tc.ok {
			t.Errorf("dataDirLine(%q) = %q, %v; want %q, %v", tc.text, dir, ok, tc.dir, tc.ok)
		}
	}
}

// earlyFixture writes a store with states for two devices under dir/data
// and a config file naming it; it returns the config's path.
func earlyFixture(t *testing.T, dir string) string {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "data", "hubd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 0)
	db.Put("lamp-1", hub.Snapshot{State: hub.State{Set: hub.FieldSet(0).With(hub.FieldOn), On: true}, LastSeen: at, Seq: 3})
	db.Put("lamp-2", hub.Snapshot{LastSeen: at, Seq: 1})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hubd.yaml")
	if err := os.WriteFile(cfg, []byte("gateway:\n  name: early\ndata_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// reopen checks that the store at dir is not held: the early store was
// closed (or never opened).
func reopen(t *testing.T, dir string) {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "hubd.db"), store.Options{LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("store still held: %v", err)
	}
	db.Close()
}

func TestEarlyStore_TakenForItsDirectory(t *testing.T) {
	dir := t.TempDir()
	e := openStoreEarly(earlyFixture(t, dir))
	if e == nil {
		t.Fatal("no early open for a plain data_dir with a store")
	}
	var out bytes.Buffer
	p := e.take(filepath.Join(dir, "data")+"/", slog.New(slog.NewTextHandler(&out, nil)))
	if p == nil {
		t.Fatalf("early store not taken (err %v)", e.err)
	}
	defer p.Close()
	e.discard() // the taken store is the caller's: this must not close it
	saved, err := p.LoadAll()
	if err != nil || len(saved) != 2 || !saved["lamp-1"].State.On || saved["lamp-1"].Seq != 3 {
		t.Fatalf("preloaded states = %v, %v", saved, err)
	}
	// The preload is given once; later reads go to the file.
	p.Put("lamp-2", hub.Snapshot{LastSeen: time.Unix(1700000100, 0), Seq: 9})
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	again, err := p.LoadAll()
	if err != nil || again["lamp-2"].Seq != 9 {
		t.Fatalf("second LoadAll = %v, %v; want the file's states", again, err)
	}
}

func TestEarlyStore_OtherDirectoryClosed(t *testing.T) {
	dir := t.TempDir()
	e := openStoreEarly(earlyFixture(t, dir))
	if e == nil {
		t.Fatal("no early open")
	}
	if p := e.take(filepath.Join(dir, "elsewhere"), slog.New(slog.DiscardHandler)); p != nil {
		p.Close()
		t.Fatal("early store taken for another data directory")
	}
	reopen(t, filepath.Join(dir, "data"))
}

func TestEarlyStore_DiscardedWhenConfigFails(t *testing.T) {
	dir := t.TempDir()
	cfg := earlyFixture(t, dir)
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("no_such_key: 1\n")
	f.Close()
	// runService with this file opens the store early; the config does
	// not load, and the store must be let go.
	if err := runService(cfg, &bytes.Buffer{}, nil); err == nil || !strings.Contains(err.Error(), "no_such_key") {
		t.Fatalf("runService = %v, want the unknown key refused", err)
	}
	reopen(t, filepath.Join(dir, "data"))
}

func TestEarlyStore_NoStoreNoOpen(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hubd.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if e := openStoreEarly(cfg); e != nil {
		e.discard()
		t.Fatal("early open of a data directory without a store")
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the early open created the data directory: %v", err)
	}
}

// A store file that is damaged is left to Open, which moves it aside and
// says so in the daemon's log.
func TestEarlyStore_CorruptLeftToOpen(t *testing.T) {
	dir := t.TempDir()
	cfg := earlyFixture(t, dir)
	path := filepath.Join(dir, "data", "hubd.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xAB}, 16384), 0o600); err != nil {
		t.Fatal(err)
	}
	e := openStoreEarly(cfg)
	if e == nil {
		t.Fatal("no early open")
	}
	if p := e.take(filepath.Join(dir, "data"), slog.New(slog.DiscardHandler)); p != nil {
		p.Close()
		t.Fatal("a corrupt store was taken")
	}
	if !errors.Is(e.err, store.ErrCorrupt) {
		t.Fatalf("early open error = %v, want ErrCorrupt", e.err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the early open moved the corrupt file: %v", err)
	}
}

func TestLateHandler(t *testing.T) {
	l := &lateHandler{target: new(atomic.Pointer[slog.Handler])}
	log := slog.New(l).With("component", "store").WithGroup("g")
	log.Warn("before") // no target yet: dropped
	var out bytes.Buffer
	h := slog.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l.target.Store(&h)
	log.Info("below the level")
	log.Warn("after", "k", 1)
	got := out.String()
	if strings.Contains(got, "before") || strings.Contains(got, "below") {
		t.Fatalf("logged what it must not:\n%s", got)
	}
	if !strings.Contains(got, "msg=after component=store g.k=1") {
		t.Fatalf("record not passed on with its attributes and group:\n%s", got)
	}
}
