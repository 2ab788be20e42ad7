package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// validateFile walks the page structure of a bbolt file with plain reads,
// never through bbolt's memory map: meta pages, the freelist, and every
// branch, leaf and nested bucket page reachable from the root. It checks
// that every page id lies below the high-water mark, that no page is
// referenced twice (a cycle would send bbolt's cursors round forever), and
// that every element, key and value lies inside its page. bbolt follows
// such offsets as raw pointers, and a fault in its own check goroutine
// would kill the process; once this walk passes, those pointers are safe.
func validateFile(path string) (err error) {
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, fmt.Sprintf(format, a...))
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	size := fi.Size()

	m0, err := readMeta(f, 0)
	if err != nil {
		return corrupt("not a bbolt database (%v)", err)
	}
	best := m0
	if m0.valid() || m0.magic == boltMagic && m0.pageSize >= 512 && m0.pageSize <= 1<<16 {
		if m1, err := readMeta(f, int64(m0.pageSize)); err == nil && m1.valid() && (!m0.valid() || m1.txid > m0.txid) {
			best = m1
		}
	} else {
		// bbolt looks for the second meta page at its usual page sizes.
		for _, ps := range []int64{4096, 8192, 16384, 65536} {
			if m1, err := readMeta(f, ps); err == nil && m1.valid() {
				best = m1
				break
			}
		}
	}
	if !best.valid() {
		if m0.magic != boltMagic {
			return corrupt("not a bbolt database (bad magic %#x)", m0.magic)
		}
		return corrupt("both meta pages are damaged")
	}
	if best.pgid < 2 || best.pgid > 1<<40 {
		return corrupt("meta page claims %d pages", best.pgid)
	}
	need := int64(best.pgid) * int64(best.pageSize)
	if size < need {
		return corrupt("file is truncated: %d bytes, its meta page needs %d", size, need)
	}
	w := &walker{r: f, ps: uint64(best.pageSize), hwm: best.pgid, seen: map[uint64]bool{0: true, 1: true}}
	if err := w.freelist(best.freelist); err != nil {
		return corrupt("%v", err)
	}
	if err := w.walk(best.root, 0); err != nil {
		return corrupt("%v", err)
	}
	return nil
}

const (
	pageHeaderSize = 16
	elemSize       = 16 // branch and leaf elements alike
	flagBranch     = 0x01
	flagLeaf       = 0x02
	flagFreelist   = 0x10
	bucketLeaf     = 0x01
	bucketHeader   = 16
	noFreelist     = ^uint64(0)
	maxTreeDepth   = 128
	maxPageBytes   = 256 << 20
)

type walker struct {
	r    io.ReaderAt
	ps   uint64
	hwm  uint64
	seen map[uint64]bool
}

var le = binary.LittleEndian

// page reads page id with its overflow pages and marks them seen.
func (w *walker) page(id uint64) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("page %d is out of bounds (file has %d pages)", id, w.hwm)
	}
	var hdr [pageHeaderSize]byte
	if _, err := w.r.ReadAt(hdr[:], int64(id*w.ps)); err != nil {
		return nil, fmt.Errorf("page %d: %v", id, err)
	}
	overflow := uint64(le.Uint32(hdr[12:]))
	if id+overflow >= w.hwm || (overflow+1)*w.ps > maxPageBytes {
		return nil, fmt.Errorf("page %d: overflow of %d pages runs past the end", id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return nil, fmt.Errorf("page %d is referenced twice", i)
		}
		w.seen[i] = true
	}
	buf := make([]byte, (overflow+1)*w.ps)
	if _, err := w.r.ReadAt(buf, int64(id*w.ps)); err != nil {
		return nil, fmt.Errorf("page %d: %v", id, err)
	}
	if got := le.Uint64(buf); got != id {
		return nil, fmt.Errorf("page %d carries id %d", id, got)
	}
	return buf, nil
}

func (w *walker) freelist(id uint64) error {
	if id == noFreelist {
		return nil
	}
	buf, err := w.page(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if flags := le.Uint16(buf[8:]); flags != flagFreelist {
		return fmt.Errorf("freelist page %d has flags %#x", id, flags)
	}
	start, n := uint64(pageHeaderSize), uint64(le.Uint16(buf[10:]))
	if n == 0xFFFF {
		if len(buf) < pageHeaderSize+8 {
			return errors.New("freelist: truncated count")
		}
		n = le.Uint64(buf[pageHeaderSize:])
		start += 8
	}
	if n > uint64(len(buf)) || start+n*8 > uint64(len(buf)) {
		return fmt.Errorf("freelist page %d: %d ids do not fit", id, n)
	}
	for i := range n {
		if p := le.Uint64(buf[start+i*8:]); p < 2 || p >= w.hwm {
			return fmt.Errorf("freelist holds page %d, out of bounds", p)
		}
	}
	return nil
}

// walk checks the tree rooted at page id.
func (w *walker) walk(id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, maxTreeDepth)
	}
	buf, err := w.page(id)
	if err != nil {
		return err
	}
	return w.elements(buf, id, false, depth)
}

// elements checks the elements of a branch or leaf page (or an inline
// bucket's page, which lives inside a value) and descends into children.
func (w *walker) elements(buf []byte, id uint64, inline bool, depth int) error {
	if len(buf) < pageHeaderSize {
		return fmt.Errorf("page %d: shorter than its header", id)
	}
	flags := le.Uint16(buf[8:])
	count := uint64(le.Uint16(buf[10:]))
	size := uint64(len(buf))
	if pageHeaderSize+count*elemSize > size {
		return fmt.Errorf("page %d: %d elements do not fit", id, count)
	}
	switch {
	case flags == flagBranch && !inline:
		if count == 0 {
			return fmt.Errorf("branch page %d is empty", id)
		}
		for i := range count {
			off := pageHeaderSize + i*elemSize
			pos, ksize := uint64(le.Uint32(buf[off:])), uint64(le.Uint32(buf[off+4:]))
			if off+pos+ksize > size {
				return fmt.Errorf("branch page %d: key %d lies outside the page", id, i)
			}
			if err := w.walk(le.Uint64(buf[off+8:]), depth+1); err != nil {
				return err
			}
		}
	case flags == flagLeaf:
		for i := range count {
			off := pageHeaderSize + i*elemSize
			eflags := le.Uint32(buf[off:])
			pos, ksize, vsize := uint64(le.Uint32(buf[off+4:])), uint64(le.Uint32(buf[off+8:])), uint64(le.Uint32(buf[off+12:]))
			if off+pos+ksize+vsize > size {
				return fmt.Errorf("leaf page %d: element %d lies outside the page", id, i)
			}
			if eflags&bucketLeaf == 0 {
				continue
			}
			val := buf[off+pos+ksize : off+pos+ksize+vsize]
			if len(val) < bucketHeader {
				return fmt.Errorf("leaf page %d: bucket header of %d bytes", id, len(val))
			}
			if root := le.Uint64(val); root != 0 {
				if err := w.walk(root, depth+1); err != nil {
					return err
				}
			} else if err := w.elements(val[bucketHeader:], id, true, depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("page %d has flags %#x, want a branch or leaf page", id, flags)
	}
	return nil
}
