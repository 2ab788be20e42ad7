package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Files of the ledger, next to the store's file in the data directory.
const (
	// KeyFile holds the random key (64 hex digits) the journal and the
	// sidecar are authenticated with.
	KeyFile = "hubd.key"
	// JournalFile is the append-only record of revoked credentials.
	JournalFile = "revocations.log"
	// SidecarFile holds the generation and the journal's length and head.
	SidecarFile = "hubd.gen"
)

// A journal record is one line of fixed width:
//
//	R <unix seconds, 16 hex> <sha256 of the credential, 64 hex> <mac, 64 hex>\n
//
// The MAC is HMAC-SHA256 under the key of the record's index, the previous
// record's MAC (zero for the first), the time and the digest, so a record
// changed, removed from the middle or moved is noticed; one removed from
// the end is noticed by the count the sidecar keeps.
const recordLen = 2 + 16 + 1 + 64 + 1 + 64 + 1

// maxJournal bounds the journal read at start: 100,000 revocations.
const maxJournal = 100_000 * recordLen

type revocation struct {
	at     int64
	digest [sha256.Size]byte
	mac    [sha256.Size]byte
}

func recordMAC(key []byte, index uint64, prev [sha256.Size]byte, at int64, d [sha256.Size]byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], index)
	binary.BigEndian.PutUint64(n[8:], uint64(at))
	m.Write([]byte("hubd revocation\x00"))
	m.Write(n[:8])
	m.Write(prev[:])
	m.Write(n[8:])
	m.Write(d[:])
	return [sha256.Size]byte(m.Sum(nil))
}

func (r *revocation) line() []byte {
	return fmt.Appendf(nil, "R %016x %x %x\n", uint64(r.at), r.digest, r.mac)
}

// readJournal returns the records of path that verify, in order, and the
// first problem met: a partial or garbled line, a MAC that does not match.
// Records after a bad one are not returned: the chain is broken there.
func readJournal(path string, key []byte) ([]revocation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJournal+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJournal {
		return nil, fmt.Errorf("larger than %d bytes", maxJournal)
	}
	var out []revocation
	var prev [sha256.Size]byte
	for i := 0; len(data) > 0; i++ {
		if len(data) < recordLen {
			return out, fmt.Errorf("record %d is cut short (%d of %d bytes)", i+1, len(data), recordLen)
		}
		r, err := parseRecord(data[:recordLen])
		if err != nil {
			return out, fmt.Errorf("record %d: %w", i+1, err)
		}
		if want := recordMAC(key, uint64(i), prev, r.at, r.digest); !hmac.Equal(want[:], r.mac[:]) {
			return out, fmt.Errorf("record %d fails its integrity check", i+1)
		}
		out = append(out, r)
		prev, data = r.mac, data[recordLen:]
	}
	return out, nil
}

func parseRecord(b []byte) (revocation, error) {
	var r revocation
	if b[0] != 'R' || b[1] != ' ' || b[18] != ' ' || b[83] != ' ' || b[recordLen-1] != '\n' {
		return r, errors.New("garbled")
	}
	at, err := strconv.ParseUint(string(b[2:18]), 16, 64)
	if err != nil {
		return r, errors.New("garbled time")
	}
	r.at = int64(at)
	if _, err := hex.Decode(r.digest[:], b[19:83]); err != nil {
		return r, errors.New("garbled digest")
	}
	if _, err := hex.Decode(r.mac[:], b[84:148]); err != nil {
		return r, errors.New("garbled mac")
	}
	return r, nil
}

// appendRecords appends lines to path and fsyncs it.
func appendRecords(path string, recs []revocation) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	var buf []byte
	for i := range recs {
		buf = append(buf, recs[i].line()...)
	}
	_, err = f.Write(buf)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// sidecar is the content of SidecarFile.
type sidecar struct {
	Generation uint64 `json:"generation"`
	Records    uint64 `json:"records"`
	Head       string `json:"head"` // hex MAC of the last record, "" for none
	MAC        string `json:"mac"`
}

func (s *sidecar) mac(key []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "hubd sidecar\x00%d\x00%d\x00%s", s.Generation, s.Records, s.Head)
	return hex.EncodeToString(m.Sum(nil))
}

func readSidecar(path string, key []byte) (sidecar, error) {
	var s sidecar
	data, err := readSmall(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("unreadable: %w", err)
	}
	if !hmac.Equal([]byte(s.MAC), []byte(s.mac(key))) {
		return s, errors.New("fails its integrity check")
	}
	return s, nil
}

func writeSidecar(path string, s sidecar, key []byte) error {
	s.MAC = s.mac(key)
	b, _ := json.Marshal(s)
	return writeFileAtomic(path, 0o600, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// readKey reads KeyFile; newKey makes and writes one.
func readKey(dir string) ([]byte, error) {
	data, err := readSmall(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	if len(data) != 65 || data[64] != '\n' {
		return nil, fmt.Errorf("%s: %d bytes, want 65", KeyFile, len(data))
	}
	key := make([]byte, 32)
	if _, err := hex.Decode(key, data[:64]); err != nil {
		return nil, fmt.Errorf("%s: %w", KeyFile, err)
	}
	return key, nil
}

func newKey(dir string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	err := writeFileAtomic(filepath.Join(dir, KeyFile), 0o600, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%x\n", key)
		return err
	})
	return key, err
}

// readSmall reads a file of at most 4 KiB.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 4<<10+1))
	if err == nil && len(data) > 4<<10 {
		err = errors.New("larger than 4 KiB")
	}
	return data, err
}
