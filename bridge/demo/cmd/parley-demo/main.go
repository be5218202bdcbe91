// Command parley-demo is `make demo`: it builds parley-bridge, then runs the
// demo of package bridge/demo (a relay and two bridges on loopback, driven
// over native-messaging frames) and prints what happened. It exits 0 when
// everything happened as it should, and cleans up after itself.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/parley-im/parley/bridge/demo"
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "parley-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-demo: error:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "parley-bridge")
	fmt.Println("building   parley-bridge")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/parley-im/parley/bridge")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "parley-demo: error: build parley-bridge:", err)
		return 1
	}
	if _, err := demo.Run(ctx, demo.Options{Bridge: bin, Out: os.Stdout, Dir: filepath.Join(dir, "run")}); err != nil {
		fmt.Fprintln(os.Stderr, "parley-demo: error:", err)
		return 1
	}
	return 0
}
