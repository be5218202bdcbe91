// Command parley-core-demo runs Parley's in-process core demo (make demo).
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/parley-im/parley/internal/coredemo"
)

func main() { os.Exit(run()) }

func run() int {
	if err := coredemo.Run(os.Stdout, nil, time.Now()); err != nil {
		fmt.Fprintf(os.Stderr, "parley-core-demo: error: %v\n", err)
		return 1
	}
	return 0
}
