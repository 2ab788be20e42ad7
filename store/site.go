package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"hubd/hub"
)

// maxSiteLen bounds a stored site document.
const maxSiteLen = 16 << 20

// siteDoc is the stored form of a site: JSON with its own field names, so
// that renaming a field of hub.Node does not change the file format.
type siteDoc struct {
	Version   int        `json:"version"`
	Buildings []*nodeDoc `json:"buildings"`
}

type nodeDoc struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Kind     string     `json:"kind,omitempty"`
	Devices  []string   `json:"devices,omitempty"`
	Children []*nodeDoc `json:"children,omitempty"`
}

const siteVersion = 1

// PutSite records site as the room tree last applied. It is committed when
// PutSite returns. A nil site is stored as an empty one.
func (db *DB) PutSite(site *hub.Site) error {
	if site == nil {
		site = &hub.Site{}
	}
	if err := site.Validate(nil); err != nil {
		return fmt.Errorf("store: put site: %w", err)
	}
	data, err := encodeSite(site)
	if err != nil {
		return err
	}
	if db.w.isClosed() {
		return ErrClosed
	}
	err = db.update("put site", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSite)
		if b == nil {
			return fmt.Errorf("%w: %s: site bucket is missing", ErrCorrupt, db.path)
		}
		return b.Put(keySite, data)
	})
	if err != nil {
		return fmt.Errorf("store: put site: %w", err)
	}
	return nil
}

// Site returns the room tree last stored by PutSite, or nil and no error
// when none was ever stored.
func (db *DB) Site() (*hub.Site, error) {
	if db.w.isClosed() {
		return nil, ErrClosed
	}
	var data []byte
	err := db.view("get site", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSite)
		if b == nil {
			return fmt.Errorf("%w: %s: site bucket is missing", ErrCorrupt, db.path)
		}
		if v := b.Get(keySite); v != nil {
			data = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: get site: %w", err)
	}
	if data == nil {
		return nil, nil
	}
	site, err := decodeSite(data)
	if err != nil {
		return nil, fmt.Errorf("store: get site from %s: %w", db.path, err)
	}
	return site, nil
}

func encodeSite(site *hub.Site) ([]byte, error) {
	var conv func(n *hub.Node) *nodeDoc
	conv = func(n *hub.Node) *nodeDoc {
		d := &nodeDoc{ID: n.ID, Name: n.Name, Kind: string(n.Kind), Devices: n.Devices}
		for _, c := range n.Children {
			d.Children = append(d.Children, conv(c))
		}
		return d
	}
	doc := siteDoc{Version: siteVersion}
	for _, b := range site.Buildings {
		doc.Buildings = append(doc.Buildings, conv(b))
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("store: encode site: %w", err)
	}
	if len(data) > maxSiteLen {
		return nil, fmt.Errorf("%w: site of %d bytes, limit %d", ErrTooLarge, len(data), maxSiteLen)
	}
	return data, nil
}

// decodeSite parses a stored site document. Anything but a valid site of
// at most hub.MaxSiteDepth levels is an ErrBadRecord error.
func decodeSite(data []byte) (*hub.Site, error) {
	if len(data) > maxSiteLen {
		return nil, errRecord("site of %d bytes is too long", len(data))
	}
	var doc siteDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, errRecord("site: %v", err)
	}
	if doc.Version != siteVersion {
		return nil, errRecord("site: unknown version %d", doc.Version)
	}
	var conv func(d *nodeDoc, depth int) (*hub.Node, error)
	conv = func(d *nodeDoc, depth int) (*hub.Node, error) {
		if d == nil {
			return nil, errRecord("site: null node")
		}
		if depth > hub.MaxSiteDepth {
			return nil, errRecord("site: node %q is deeper than %d levels", d.ID, hub.MaxSiteDepth)
		}
		n := &hub.Node{ID: d.ID, Name: d.Name, Kind: hub.NodeKind(d.Kind), Devices: d.Devices}
		for _, c := range d.Children {
			cn, err := conv(c, depth+1)
			if err != nil {
				return nil, err
			}
			n.Children = append(n.Children, cn)
		}
		return n, nil
	}
	site := &hub.Site{}
	for _, b := range doc.Buildings {
		n, err := conv(b, 1)
		if err != nil {
			return nil, err
		}
		site.Buildings = append(site.Buildings, n)
	}
	if err := site.Validate(nil); err != nil {
		return nil, errRecord("site: %v", err)
	}
	return site, nil
}
