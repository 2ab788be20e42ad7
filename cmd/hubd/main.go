// Command hubd is the building hub daemon.
//
// Placeholder written by the service engineer until the lead's main.go lands:
// it only handles `hubd version`.
package main

import (
	"fmt"
	"os"
	"runtime"
)

// Stamped by the Makefile with -X main.version=... -X main.commit=...
var version, commit string

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Printf("hubd %s (commit %s, %s/%s)\n", version, commit, runtime.GOOS, runtime.GOARCH)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: hubd version")
	os.Exit(2)
}
