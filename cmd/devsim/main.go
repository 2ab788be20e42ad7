// Command devsim emulates hubd's devices for benches, demos and tests:
// serial lamps and sockets running the real firmware logic on a
// pseudo-terminal or a real serial adapter ("devsim serial"), and MQTT
// devices ("devsim mqtt").
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
)

// commands are the subcommands; other files add theirs from init().
var commands = map[string]func(args []string) error{}

func usage() {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: devsim <command> [flags]\ncommands: %v\nrun 'devsim <command> -h' for a command's flags\n", names)
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	run, ok := commands[os.Args[1]]
	if !ok {
		if os.Args[1] != "-h" && os.Args[1] != "help" && os.Args[1] != "--help" {
			fmt.Fprintf(os.Stderr, "devsim: unknown command %q\n", os.Args[1])
		}
		usage()
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "devsim:", err)
		os.Exit(1)
	}
}
