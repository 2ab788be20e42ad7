package store

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	tokenA = sha256.Sum256([]byte("token-a")) // configured, revoked by the tests
	tokenB = sha256.Sum256([]byte("token-b")) // configured, never revoked
)

// ledgerRun is one start of a gateway on dir: the store and its ledger.
type ledgerRun struct {
	db        *DB
	l         *Ledger
	distrusts int
}

func startLedger(t *testing.T, dir string) *ledgerRun {
	t.Helper()
	r := &ledgerRun{}
	db, err := Open(filepath.Join(dir, "hubd.db"), Options{NoSync: true, MoveAsideCorrupt: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	r.db = db
	r.l, err = OpenLedger(db, LedgerOptions{
		Suspects: func() [][sha256.Size]byte { return [][sha256.Size]byte{tokenA, tokenB} },
		Distrust: func() error { r.distrusts++; return nil },
	})
	if err != nil {
		db.Close()
		t.Fatalf("open ledger: %v", err)
	}
	return r
}

func (r *ledgerRun) stop(t *testing.T) {
	t.Helper()
	if err := r.db.Close(); err != nil {
		t.Fatal(err)
	}
	checkPath(t, r.db.path)
}

// findings checks that the ledger reported something containing want, and
// that tokenA stayed revoked.
func (r *ledgerRun) mustFind(t *testing.T, want string) {
	t.Helper()
	f := strings.Join(r.l.Findings(), "\n")
	if !strings.Contains(f, want) {
		t.Errorf("findings %q, want one with %q", f, want)
	}
	if !r.l.IsRevoked(tokenA) {
		t.Error("the revoked token is no longer revoked")
	}
}

// revokedGateway is a data dir that had state: tokenA revoked, restarted once.
func revokedGateway(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	r := startLedger(t, dir)
	if !r.l.Created() || len(r.l.Findings()) != 0 {
		t.Fatalf("new gateway: created %v, findings %q", r.l.Created(), r.l.Findings())
	}
	if err := r.db.Bucket("x").Put("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := r.l.Revoke(tokenA, time.Now()); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
	r = startLedger(t, dir)
	if len(r.l.Findings()) != 0 || r.l.Created() || r.distrusts != 0 || !r.l.IsRevoked(tokenA) || r.l.IsRevoked(tokenB) {
		t.Fatalf("clean restart: findings %q created %v distrusts %d revoked A %v B %v",
			r.l.Findings(), r.l.Created(), r.distrusts, r.l.IsRevoked(tokenA), r.l.IsRevoked(tokenB))
	}
	r.stop(t)
	return dir
}

func TestLedger_CleanRestarts_FindNothingAndRaiseTheGeneration(t *testing.T) {
	dir := revokedGateway(t)
	r := startLedger(t, dir)
	defer r.stop(t)
	g, err := r.db.Generation()
	if err != nil || g != r.l.Generation() || g < 4 {
		t.Fatalf("generation: store %d (%v), ledger %d; want equal and raised by every start and revocation", g, err, r.l.Generation())
	}
}

func TestLedger_ZeroLengthStore_IsReportedAndKeepsTheRevocation(t *testing.T) {
	dir := revokedGateway(t)
	if err := os.Truncate(filepath.Join(dir, "hubd.db"), 0); err != nil {
		t.Fatal(err)
	}
	r := startLedger(t, dir)
	r.mustFind(t, "missing or empty on a gateway that had state")
	if r.distrusts != 1 {
		t.Errorf("distrusted %d times, want 1", r.distrusts)
	}
	r.stop(t)
	// Reported once: the next start is clean again.
	r = startLedger(t, dir)
	defer r.stop(t)
	if len(r.l.Findings()) != 0 || !r.l.IsRevoked(tokenA) {
		t.Errorf("start after the report: %q, revoked %v", r.l.Findings(), r.l.IsRevoked(tokenA))
	}
}

func TestLedger_TruncatedStore_IsMovedAsideReportedAndKeepsTheRevocation(t *testing.T) {
	dir := revokedGateway(t)
	p := filepath.Join(dir, "hubd.db")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	r := startLedger(t, dir)
	defer r.stop(t)
	r.mustFind(t, "was corrupt and was moved aside")
	if m, _ := filepath.Glob(p + ".corrupt-*"); len(m) != 1 || r.distrusts != 1 {
		t.Errorf("moved aside %v, distrusted %d", m, r.distrusts)
	}
}

func TestLedger_OlderCopyPutBack_IsReported(t *testing.T) {
	dir := t.TempDir()
	r := startLedger(t, dir)
	r.stop(t)
	p := filepath.Join(dir, "hubd.db")
	old, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	r = startLedger(t, dir)
	if err := r.l.Revoke(tokenA, time.Now()); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
	if err := os.WriteFile(p, old, 0o600); err != nil {
		t.Fatal(err)
	}
	r = startLedger(t, dir)
	defer r.stop(t)
	r.mustFind(t, "an older copy was put back")
	if r.distrusts != 1 {
		t.Errorf("distrusted %d times, want 1", r.distrusts)
	}
}

// Bump marks a change of credentials in the store: a copy from before it,
// even of the same run, is older.
func TestLedger_Bump_MakesACopyFromBeforeItOlder(t *testing.T) {
	dir := t.TempDir()
	r := startLedger(t, dir)
	p := filepath.Join(dir, "hubd.db")
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if err := r.db.Backup(copyPath); err != nil {
		t.Fatal(err)
	}
	if err := r.l.Bump(); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
	old, _ := os.ReadFile(copyPath)
	if err := os.WriteFile(p, old, 0o600); err != nil {
		t.Fatal(err)
	}
	r = startLedger(t, dir)
	defer r.stop(t)
	if f := strings.Join(r.l.Findings(), "\n"); !strings.Contains(f, "older copy") || r.distrusts != 1 {
		t.Fatalf("findings %q, distrusts %d", f, r.distrusts)
	}
}

func TestLedger_FlippedByteInTheJournal_RevokesTheSuspects(t *testing.T) {
	dir := revokedGateway(t)
	j := filepath.Join(dir, JournalFile)
	data, err := os.ReadFile(j)
	if err != nil || len(data) != recordLen {
		t.Fatalf("journal: %d bytes (%v), want one record", len(data), err)
	}
	data[30] ^= 0x01 // a hex digit of the digest
	if err := os.WriteFile(j, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := startLedger(t, dir)
	r.mustFind(t, "fails its integrity check")
	if !r.l.IsRevoked(tokenB) {
		t.Error("a configured token the lost record may have named is not revoked")
	}
	if m, _ := filepath.Glob(j + ".damaged-*"); len(m) != 1 {
		t.Errorf("damaged journal kept aside: %v", m)
	}
	r.stop(t)
	// The rewritten journal verifies: the next start is clean.
	r = startLedger(t, dir)
	defer r.stop(t)
	if len(r.l.Findings()) != 0 || !r.l.IsRevoked(tokenA) || !r.l.IsRevoked(tokenB) {
		t.Errorf("after the repair: %q", r.l.Findings())
	}
}

func TestLedger_DamagedLedgerFiles_FailClosed(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		distrust   bool // the store can not be vouched for either
		damage     func(dir string) error
	}{
		{"journal cut by one record", "records were lost", false, func(dir string) error {
			r := startLedgerNoT(dir)
			r.l.Revoke(tokenB, time.Now())
			r.db.Close()
			j := filepath.Join(dir, JournalFile)
			fi, _ := os.Stat(j)
			return os.Truncate(j, fi.Size()-recordLen)
		}},
		{"journal cut mid-record", "cut short", false, func(dir string) error {
			j := filepath.Join(dir, JournalFile)
			return os.Truncate(j, recordLen-5)
		}},
		{"journal deleted", "damaged", false, func(dir string) error { return os.Remove(filepath.Join(dir, JournalFile)) }},
		{"journal emptied", "records were lost", false, func(dir string) error { return os.Truncate(filepath.Join(dir, JournalFile), 0) }},
		{"sidecar deleted", SidecarFile, true, func(dir string) error { return os.Remove(filepath.Join(dir, SidecarFile)) }},
		{"sidecar edited", SidecarFile, true, func(dir string) error {
			p := filepath.Join(dir, SidecarFile)
			b, _ := os.ReadFile(p)
			return os.WriteFile(p, bytes.Replace(b, []byte(`"records":1`), []byte(`"records":0`), 1), 0o600)
		}},
		{"key deleted", KeyFile, true, func(dir string) error { return os.Remove(filepath.Join(dir, KeyFile)) }},
		{"every ledger file deleted", "were deleted", true, func(dir string) error {
			for _, n := range []string{KeyFile, JournalFile, SidecarFile} {
				if err := os.Remove(filepath.Join(dir, n)); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := revokedGateway(t)
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			r := startLedger(t, dir)
			defer r.stop(t)
			r.mustFind(t, tc.want)
			if !r.l.IsRevoked(tokenB) {
				t.Error("configured tokens are trusted after the journal was damaged")
			}
			if r.l.Distrusted() != tc.distrust {
				t.Errorf("Distrusted() = %v, want %v", r.l.Distrusted(), tc.distrust)
			}
			if tc.distrust != (r.distrusts > 0) {
				t.Errorf("Distrust called %d times, want it called: %v", r.distrusts, tc.distrust)
			}
		})
	}
}

// startLedgerNoT is startLedger for damage functions, which have no t.
func startLedgerNoT(dir string) *ledgerRun {
	r := &ledgerRun{}
	r.db, _ = Open(filepath.Join(dir, "hubd.db"), Options{NoSync: true})
	r.l, _ = OpenLedger(r.db, LedgerOptions{})
	return r
}

// A crash after the store took a generation but before the sidecar did
// leaves the store ahead: that is not a rollback.
func TestLedger_StoreAheadOfTheSidecar_IsNoFinding(t *testing.T) {
	dir := revokedGateway(t)
	r := startLedger(t, dir)
	if err := r.db.setGeneration(r.l.Generation() + 1); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
	r = startLedger(t, dir)
	defer r.stop(t)
	if f := r.l.Findings(); len(f) != 0 || r.distrusts != 0 {
		t.Fatalf("findings %q, distrusts %d", f, r.distrusts)
	}
}

// BenchmarkLedger_Bump is the cost a write of OAuth tokens pays to keep
// rollbacks detectable: a store commit and a sidecar written atomically,
// all fsynced.
func BenchmarkLedger_Bump(b *testing.B) {
	l := benchLedger(b)
	for b.Loop() {
		if err := l.Bump(); err != nil {
			b.Fatal(err)
		}
	}
}

// IsRevoked is asked on every request with a configured token: it must not
// wait for a Bump or Revoke, which hold the ledger's lock across fsyncs.
func TestLedger_IsRevoked_DoesNotWaitForWrites(t *testing.T) {
	r := startLedger(t, revokedGateway(t))
	defer r.stop(t)
	r.l.mu.Lock() // as a Bump does for its fsyncs
	defer r.l.mu.Unlock()
	got := make(chan [2]bool, 1)
	go func() { got <- [2]bool{r.l.IsRevoked(tokenA), r.l.IsRevoked(tokenB)} }()
	select {
	case g := <-got:
		if !g[0] || g[1] {
			t.Errorf("IsRevoked A %v B %v, want true false", g[0], g[1])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("IsRevoked waits for the lock a write holds across its fsyncs")
	}
}

// BenchmarkLedger_IsRevokedWhileBumping is the latency of the check every
// request with a configured token makes while OAuth writes raise the
// generation (fsynced) in the background.
func BenchmarkLedger_IsRevokedWhileBumping(b *testing.B) {
	l := benchLedger(b)
	if err := l.Revoke(tokenA, time.Now()); err != nil {
		b.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := l.Bump(); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	for b.Loop() {
		if !l.IsRevoked(tokenA) {
			b.Fatal("token A not revoked")
		}
	}
	close(stop)
	<-done
}

// SubKey is the same across starts, differs per label, and changes with
// the key file.
func TestLedger_SubKey_StableAndPerLabel(t *testing.T) {
	dir := revokedGateway(t)
	r := startLedger(t, dir)
	a, b := r.l.SubKey("a"), r.l.SubKey("b")
	r.stop(t)
	if bytes.Equal(a, b) || len(a) != sha256.Size {
		t.Fatalf("subkeys a %x b %x", a, b)
	}
	r = startLedger(t, dir)
	if !bytes.Equal(r.l.SubKey("a"), a) {
		t.Error("the subkey changed across a restart")
	}
	r.stop(t)
	if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
		t.Fatal(err)
	}
	r = startLedger(t, dir)
	defer r.stop(t)
	if bytes.Equal(r.l.SubKey("a"), a) {
		t.Error("the subkey outlived the key file")
	}
}

// benchLedger opens a ledger on a new store, fsyncs on, closed at the end.
func benchLedger(b *testing.B) *Ledger {
	b.Helper()
	db, err := Open(filepath.Join(b.TempDir(), "hubd.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	l, err := OpenLedger(db, LedgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return l
}
