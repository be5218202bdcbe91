# Parley's make targets wrap commands; logic lives in Go (internal/tools).
# `make test` runs everything CI runs; `make demo` shows Parley working.

GO        ?= go
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
WASM_EXEC := $(shell $(GO) env GOROOT)/lib/wasm
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Wycheproof test vectors, pinned (the module proxy refuses @latest). Native
# tests find them with `go mod download`; js/wasm tests get the directory.
WYCHEPROOF := github.com/C2SP/wycheproof@v0.0.0-20250901140545-b51abcfb8daf

.PHONY: all build test vet fmt-check staticcheck unit load keystore-test wasm-test wasm wasm-node-test bench fuzz demo clean

all: build

build:
	$(GO) build ./...

test: fmt-check vet staticcheck unit load keystore-test wasm-test wasm-node-test

fmt-check:
	$(GO) run ./internal/tools/gofmtcheck

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

unit:
	$(GO) test -race -count=1 ./...

# The relay at issue 3's full size: 500 clients x 200 deposits, then fetch and
# ack everything; 0 lost, 0 duplicated (the race-enabled unit run uses a
# smaller default).
load:
	$(GO) test -count=1 -run '^TestLoad$$' ./relay/server -args -load.clients 500 -load.deposits 200

# The OS keystore against a real Secret Service (gnome-keyring in a private
# D-Bus session; see internal/tools/keystoretest). .ci/run installs
# gnome-keyring, dbus and libsecret-tools.
keystore-test:
	$(GO) run ./internal/tools/keystoretest

# The core must build and pass its tests under js/wasm (Node runs them).
wasm-test:
	$(GO) mod download $(WYCHEPROOF)
	PARLEY_WYCHEPROOF_DIR="$$($(GO) list -m -f '{{.Dir}}' $(WYCHEPROOF))" \
	PATH="$(WASM_EXEC):$$PATH" GOOS=js GOARCH=wasm $(GO) test -count=1 ./core/...

# dist/core.wasm and the wasm_exec.js of the toolchain that built it: the
# extension loads both (docs/WASM.md).
wasm:
	mkdir -p dist
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o dist/core.wasm ./wasm
	cp "$(WASM_EXEC)/wasm_exec.js" dist/wasm_exec.js

# The module's Go packages under js/wasm, then the module as the extension
# meets it: Node loads dist/ and calls parleyCore, against values a native
# build of the core computes.
wasm-node-test: wasm
	PATH="$(WASM_EXEC):$$PATH" GOOS=js GOARCH=wasm $(GO) test -count=1 ./wasm/...
	$(GO) run ./wasm/internal/expected > dist/expected.json
	node --test wasm/test/

bench:
	$(GO) run ./internal/tools/benchtable -benchtime $(BENCHTIME) ./...

fuzz:
	$(GO) run ./internal/tools/fuzzall -fuzztime $(FUZZTIME) ./...

demo:
	$(GO) run ./bridge/demo/cmd/parley-demo

clean:
	rm -rf dist
