package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpen_CreatesPrivateDirAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "hubd")
	path := filepath.Join(dir, "hubd.db")
	db := openTestAt(t, path, Options{NoSync: true})
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode = %o, want 600", got)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("dir mode = %o, want 700", got)
	}
	size, err := db.Size()
	if err != nil || size != fi.Size() || size == 0 {
		t.Errorf("Size() = %d, %v; file is %d bytes", size, err, fi.Size())
	}
	if err := db.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestOpen_TightensLoosePermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hubd.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	openTestAt(t, path, Options{NoSync: true})
	fi, _ := os.Stat(path)
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode after reopen = %o, want 600", got)
	}
}

func TestOpen_LockedFileFailsNamingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hubd.db")
	openTestAt(t, path, Options{NoSync: true})

	_, err := Open(path, Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("error %q does not name the file and say it is in use", err)
	}
}

// TestOpen_LockedByOtherProcessFails holds the lock in a child process (this
// test binary re-executed) and opens the file here.
func TestOpen_LockedByOtherProcessFails(t *testing.T) {
	if os.Getenv("HUBD_STORE_HOLD") != "" {
		holdLock(os.Getenv("HUBD_STORE_HOLD"))
		return
	}
	path := filepath.Join(t.TempDir(), "hubd.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpen_LockedByOtherProcessFails$")
	cmd.Env = append(os.Environ(), "HUBD_STORE_HOLD="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close() // the child exits when its stdin closes
		cmd.Wait()
	}()
	line := make([]byte, 6)
	if _, err := stdout.Read(line); err != nil || string(line) != "locked" {
		t.Fatalf("child did not take the lock: %q %v", line, err)
	}
	_, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open while another process holds it: %v, want ErrLocked naming %s", err, path)
	}
}

func holdLock(path string) {
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		os.Stdout.WriteString("failed " + err.Error())
		os.Exit(1)
	}
	os.Stdout.WriteString("locked")
	var buf [1]byte
	os.Stdin.Read(buf[:])
	db.Close()
	os.Exit(0)
}

// makeStore writes a store with n devices and returns its path.
func makeStore(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hubd.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		db.Put(devID(i), snap(i, uint64(i)))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func pageSizeOf(t *testing.T, data []byte) int {
	t.Helper()
	ps := int(binary.LittleEndian.Uint32(data[24:]))
	if ps < 512 || ps > 1<<16 {
		t.Fatalf("page size %d in meta page 0", ps)
	}
	return ps
}

func TestOpen_DamagedFileFailsNamingFile(t *testing.T) {
	good := makeStore(t, 2000)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	ps := pageSizeOf(t, data)
	rnd := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(rnd.Uint32())
	}
	flip := func(offs ...int) []byte {
		d := bytes.Clone(data)
		for _, o := range offs {
			d[o] ^= 0xFF
		}
		return d
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", garbage, "not a bbolt database"},
		{"ten bytes", []byte("not a db!\n"), "not a bbolt database"},
		{"text file", []byte(strings.Repeat("hello world\n", 1000)), "not a bbolt database"},
		{"truncated to half", data[:len(data)/2], "truncated"},
		{"truncated to one page", data[:ps], "corrupt"},
		{"truncated inside meta page", data[:40], "not a bbolt database"},
		{"both meta pages flipped", flip(16+8, ps+16+8), "corrupt"},
		{"both meta magics flipped", flip(16, ps+16), "corrupt"},
		{"data pages zeroed", append(bytes.Clone(data[:2*ps]), make([]byte, len(data)-2*ps)...), "corrupt"},
		{"data pages garbage", append(bytes.Clone(data[:2*ps]), bytes.Repeat(garbage, len(data)/len(garbage)+1)[:len(data)-2*ps]...), "corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hubd.db")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, Options{NoSync: true})
			if err == nil {
				db.Close()
				t.Fatalf("Open succeeded on a damaged file")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to name %s and say %q", err, path, tt.want)
			}
		})
	}
}

func TestOpen_OneDamagedMetaPageFallsBackToTheOther(t *testing.T) {
	good := makeStore(t, 10)
	data, _ := os.ReadFile(good)
	ps := pageSizeOf(t, data)
	for _, page := range []int{0, 1} {
		d := bytes.Clone(data)
		d[page*ps+16+40] ^= 0x55 // inside the checksummed meta
		path := filepath.Join(t.TempDir(), "hubd.db")
		os.WriteFile(path, d, 0o600)
		db := openTestAt(t, path, Options{NoSync: true})
		if _, err := db.LoadAll(); err != nil {
			t.Errorf("meta page %d damaged: LoadAll: %v", page, err)
		}
	}
}

// TestOpen_RandomDamageNeverPanics damages a real store in 1,500 seeded
// ways (bytes replaced, bits flipped, runs of 0xff) and checks that Open,
// LoadAll, the writer and Close return errors or skip records, but never
// panic or hang. Half the cases skip bbolt's check, so that damage reaches
// the transaction guards.
func TestOpen_RandomDamageNeverPanics(t *testing.T) {
	good := makeStore(t, 12)
	data, _ := os.ReadFile(good)
	rnd := rand.New(rand.NewPCG(7, 11))
	var opened, refused, loadErrs int
	dir := t.TempDir()
	for i := range 1500 {
		d := bytes.Clone(data)
		for range 1 + i%4 {
			switch rnd.IntN(3) {
			case 0:
				d[rnd.IntN(len(d))] = byte(rnd.Uint32())
			case 1:
				d[rnd.IntN(len(d))] ^= 1 << rnd.IntN(8)
			case 2:
				o := rnd.IntN(len(d) - 8)
				copy(d[o:], bytes.Repeat([]byte{0xff}, rnd.IntN(8)))
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("%d.db", i))
		os.WriteFile(path, d, 0o600)
		db, err := Open(path, Options{NoSync: true, SkipCheck: i%2 == 0, LockTimeout: -1})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrSchemaTooNew) {
				t.Errorf("case %d: Open: %v, want ErrCorrupt", i, err)
			}
			refused++
			os.Remove(path)
			continue
		}
		opened++
		if _, err := db.LoadAll(); err != nil {
			loadErrs++
		}
		db.Bucket("x").All()
		db.Site()
		db.Put(devID(1), snap(1, 1000))
		db.Flush()
		db.Close()
		os.Remove(path)
	}
	t.Logf("damaged files: %d refused by Open, %d opened (%d LoadAll errors)", refused, opened, loadErrs)
	if refused == 0 {
		t.Errorf("no damaged file was refused")
	}
}

func TestOpen_NotARegularFileFails(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open(directory) = %v, want an error naming it", err)
	}
}

func TestOpen_ForeignBboltFileFails(t *testing.T) {
	tests := []struct {
		name    string
		buckets map[string]map[string]string
		want    error
		say     string
	}{
		{"other application", map[string]map[string]string{"users": {"a": "b"}}, ErrForeign, `"users"`},
		{"meta without magic", map[string]map[string]string{"meta": {"schema": "\x00\x00\x00\x01"}, "state": {}}, ErrForeign, "magic"},
		{"wrong magic", map[string]map[string]string{"meta": {"magic": "etcd", "schema": "\x00\x00\x00\x01"}}, ErrForeign, "magic"},
		{"unknown bucket", map[string]map[string]string{"meta": {"magic": magic, "schema": "\x00\x00\x00\x01"}, "junk": {}}, ErrForeign, `"junk"`},
		{"newer schema", map[string]map[string]string{"meta": {"magic": magic, "schema": "\x00\x00\x00\x02"}}, ErrSchemaTooNew, "schema 2"},
		{"schema garbage", map[string]map[string]string{"meta": {"magic": magic, "schema": "v1"}}, ErrCorrupt, "schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "other.db")
			b, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = b.Update(func(tx *bolt.Tx) error {
				for name, kv := range tt.buckets {
					bk, err := tx.CreateBucket([]byte(name))
					if err != nil {
						return err
					}
					for k, v := range kv {
						bk.Put([]byte(k), []byte(v))
					}
				}
				return nil
			})
			b.Close()
			if err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, Options{NoSync: true, MoveAsideCorrupt: tt.want != ErrCorrupt})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.say) {
				t.Errorf("err = %q, want %v naming %s and saying %s", err, tt.want, path, tt.say)
			}
			if _, serr := os.Stat(path); serr != nil {
				t.Errorf("the refused file is gone: %v", serr)
			}
		})
	}
}

func TestOpen_MoveAsideCorruptStartsEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hubd.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xAB}, 32<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	db := openTestAt(t, path, Options{NoSync: true, MoveAsideCorrupt: true})
	all, err := db.LoadAll()
	if err != nil || len(all) != 0 {
		t.Fatalf("LoadAll on the fresh store = %v, %v", all, err)
	}
	moved, _ := filepath.Glob(path + ".corrupt-*")
	if len(moved) != 1 {
		t.Fatalf("moved-aside files: %v, want one", moved)
	}
	if d, _ := os.ReadFile(moved[0]); len(d) != 32<<10 || d[0] != 0xAB {
		t.Errorf("the moved file does not hold the damaged bytes")
	}
}

func TestDB_Backup_WritesAConsistentCopy(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	for i := range 100 {
		db.Put(devID(i), snap(i, 5))
	}
	db.Bucket("alexa-units").Put("room-101", "amzn1.alexa.unit.did.x")
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := db.Backup(dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	cp := openTestAt(t, dst, Options{NoSync: true})
	all, err := cp.LoadAll()
	if err != nil || len(all) != 100 {
		t.Errorf("backup LoadAll: %d devices, %v", len(all), err)
	}
	if v, ok, _ := cp.Bucket("alexa-units").Get("room-101"); !ok || v != "amzn1.alexa.unit.did.x" {
		t.Errorf("backup kv = %q %v", v, ok)
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".copy.db.tmp-*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func TestDB_ClosedMethodsReturnErrClosed(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checks := map[string]error{
		"Flush":   db.Flush(),
		"Check":   db.Check(),
		"PutSite": db.PutSite(nil),
		"KV.Put":  db.Bucket("a").Put("k", "v"),
		"Delete":  db.Delete("x"),
	}
	_, checks["LoadAll"] = db.LoadAll()
	_, checks["Site"] = db.Site()
	_, _, checks["KV.Get"] = db.Bucket("a").Get("k")
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	db.Put("x", snap(1, 1))
	if s := db.Stats(); s.Dropped != 1 {
		t.Errorf("Put after Close: Dropped = %d, want 1", s.Dropped)
	}
}
