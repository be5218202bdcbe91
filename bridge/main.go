// Command parley-bridge is Parley's native side. It runs in one of two
// modes:
//
//	parley-bridge --relay --listen ADDR --data DIR [flags]
//	parley-bridge [--profile NAME] [--passphrase-file FILE] ORIGIN
//
// The first serves a relay (package bridge/relaycmd); the second, the
// default, is the native-messaging host the browser starts (package
// bridge/hostcmd). This file only dispatches and wires signals; the work is
// in the packages.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/parley-im/parley/bridge/hostcmd"
	"github.com/parley-im/parley/bridge/relaycmd"
)

const usage = `usage: parley-bridge --relay --listen ADDR --data DIR [flags]
       parley-bridge [--profile NAME] [--passphrase-file FILE] ORIGIN
       parley-bridge --version

Modes:
  --relay    run a Parley relay (parley-bridge --relay --help for its flags)
  (default)  the native-messaging host the browser starts with the
             extension's origin (parley-bridge --host-help for its flags)

Example:
  parley-bridge --relay --listen 127.0.0.1:7777 --data ./relay
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	switch {
	case hasFlag(args, "relay"):
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return relaycmd.Run(ctx, args, stdout, stderr)
	case hasFlag(args, "version"):
		fmt.Fprintf(stdout, "parley-bridge %s\n", version())
		return 0
	case hasFlag(args, "host-help"):
		return hostcmd.Run(context.Background(), []string{"--help"}, os.Stdin, stdout, stderr)
	case hasFlag(args, "help") || hasFlag(args, "h"):
		fmt.Fprint(stdout, usage)
		return 0
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "parley-bridge: error: no mode given (the browser starts the host with the extension's origin)")
		fmt.Fprintln(stderr, "parley-bridge: hint: run a relay with parley-bridge --relay --listen 127.0.0.1:7777 --data ./relay")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return hostcmd.Run(ctx, args, os.Stdin, stdout, stderr)
}

// hasFlag reports whether args hold -name or --name (alone or as
// --name=value), before any "--".
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name || a == name+"=true" {
			return true
		}
	}
	return false
}

// version returns the module version from the build information.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Version == "" {
		return "(unknown)"
	}
	return bi.Main.Version
}
