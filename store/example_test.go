package store_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"hubd/hub"
	"hubd/store"
)

// Wiring as cmd/hubd does it: the store is the hub's state cache, and other
// adapters get key/value namespaces.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "hubd-example")
	defer os.RemoveAll(dir)

	db, err := store.Open(filepath.Join(dir, "hubd.db"), store.Options{})
	if err != nil {
		log.Fatal(err) // names the file: locked, corrupt, foreign or too new
	}
	defer db.Close()

	devs := []hub.Device{{ID: "socket-1", Kind: hub.KindSocket, Driver: "serial", Fields: hub.Fields(hub.FieldOn)}}
	h, err := hub.New(devs, nil, hub.Options{Store: db})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	h.Apply(hub.Report{Device: "socket-1", State: hub.State{Set: hub.Fields(hub.FieldOn), On: true}})

	units := db.Bucket("alexa-units")
	units.Put("room-101", "amzn1.alexa.unit.did.example")

	if err := db.Flush(); err != nil {
		log.Fatal(err)
	}
	saved, _ := db.LoadAll()
	id, _, _ := units.Get("room-101")
	fmt.Println(saved["socket-1"].State.On, db.Committed(), id)
	// Output: true 1 amzn1.alexa.unit.did.example
}
