package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"hubd/hub"
	"hubd/store"
)

// A start-up spends most of its time parsing the config file (10,000
// devices: 4 MiB of YAML, half a second) on one core, and then opening,
// checking and reading the store (100-200 ms) before anything else can go.
// earlyStore does the store's part on another core while the file is
// parsed: the data directory is read from the file's top-level data_dir
// line, and the open is used only if the parsed, validated config names
// the same directory; else it is closed and the store opened as before.
// It does only what Open would do next anyway: it opens an existing
// store file (never creates one, never moves a corrupt one aside: those
// wait for the validated config) and reads the saved device states.
type earlyStore struct {
	path  string // the store file
	log   *lateHandler
	done  chan struct{}
	db    *store.DB
	saved map[string]hub.Snapshot
	err   error
	took  time.Duration
}

// defaultDataDir is the data directory of a config file without data_dir
// (Config.applyDefaults).
const defaultDataDir = "/var/lib/hubd"

// openStoreEarly starts opening the store of the config file at path, or
// returns nil when the file does not name its data directory plainly or
// the directory holds no store yet.
func openStoreEarly(path string) *earlyStore {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	f.Close()
	if err != nil || len(data) > maxConfigSize {
		return nil
	}
	dir, ok := dataDirLine(data)
	if !ok {
		return nil
	}
	db := filepath.Join(dir, "hubd.db")
	if fi, err := os.Stat(db); err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return nil
	}
	e := &earlyStore{path: db, log: &lateHandler{target: new(atomic.Pointer[slog.Handler])}, done: make(chan struct{})}
	go e.open()
	return e
}

func (e *earlyStore) open() {
	defer close(e.done)
	start := time.Now()
	defer func() { e.took = time.Since(start) }()
	e.db, e.err = store.Open(e.path, store.Options{Logger: slog.New(e.log)})
	if e.err != nil {
		return
	}
	e.saved, e.err = e.db.LoadAll()
}

// dataDirLine returns the data directory a config file names: the value
// of its one top-level data_dir line when that is a plain absolute path,
// or the default when the file has none. ok is false for anything else
// (a quoted, anchored or commented value, two lines): the start-up then
// waits for the parsed config.
func dataDirLine(data []byte) (dir string, ok bool) {
	const key = "data_dir:"
	found := false
	for line := range bytes.Lines(data) {
		if !bytes.HasPrefix(line, []byte(key)) {
			continue
		}
		if found {
			return "", false
		}
		found = true
		v := string(bytes.TrimSpace(line[len(key):]))
		if v == "" || v[0] != '/' || strings.ContainsAny(v, "#&*!'\"{}[]|> \t\\") {
			return "", false
		}
		dir = v
	}
	if !found {
		return defaultDataDir, true
	}
	return filepath.Clean(dir), true
}

// take returns the early store, with the states it read as its LoadAll,
// if it is the store of dataDir and opened cleanly, logging from now on
// to log; the caller owns it. Otherwise it closes it and returns nil, and
// the caller opens the store itself (which then reports what went wrong,
// moves a corrupt file aside, or logs the undecodable records the early
// read skipped).
func (e *earlyStore) take(dataDir string, log *slog.Logger) *preloadedStore {
	if e == nil {
		return nil
	}
	<-e.done
	if e.err == nil && filepath.Join(filepath.Clean(dataDir), "hubd.db") == e.path && e.db.Stats().BadRecords == 0 {
		h := log.Handler()
		e.log.target.Store(&h)
		p := &preloadedStore{DB: e.db}
		p.saved.Store(&e.saved)
		e.db = nil
		return p
	}
	e.discard()
	return nil
}

// discard closes the early store if it opened and was not taken (a
// config that did not load, or named another directory).
func (e *earlyStore) discard() {
	if e == nil {
		return
	}
	<-e.done
	if e.db != nil {
		e.db.Close()
		e.db = nil
	}
}

// lateHandler is the early store's log handler: it logs to the daemon's
// configured handler once take has set it, and nothing before (the store
// logs nothing while it opens without moving a file aside and has no
// writes to commit; take refuses an open whose read skipped records).
type lateHandler struct {
	target *atomic.Pointer[slog.Handler]
	derive func(slog.Handler) slog.Handler // WithAttrs and WithGroup since
}

func (l *lateHandler) handler() slog.Handler {
	p := l.target.Load()
	if p == nil {
		return nil
	}
	if l.derive != nil {
		return l.derive(*p)
	}
	return *p
}

func (l *lateHandler) Enabled(ctx context.Context, level slog.Level) bool {
	h := l.handler()
	return h != nil && h.Enabled(ctx, level)
}

func (l *lateHandler) Handle(ctx context.Context, r slog.Record) error {
	if h := l.handler(); h != nil {
		return h.Handle(ctx, r)
	}
	return nil
}

func (l *lateHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return l.then(func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

func (l *lateHandler) WithGroup(name string) slog.Handler {
	return l.then(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (l *lateHandler) then(f func(slog.Handler) slog.Handler) slog.Handler {
	prev := l.derive
	return &lateHandler{target: l.target, derive: func(h slog.Handler) slog.Handler {
		if prev != nil {
			h = prev(h)
		}
		return f(h)
	}}
}

// preloadedStore is the store with the device states the early open read:
// the hub's one LoadAll at start-up gets them without a second read.
type preloadedStore struct {
	*store.DB
	saved atomic.Pointer[map[string]hub.Snapshot]
}

func (p *preloadedStore) LoadAll() (map[string]hub.Snapshot, error) {
	if s := p.saved.Swap(nil); s != nil {
		return *s, nil
	}
	return p.DB.LoadAll()
}
