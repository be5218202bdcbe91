// Command expected prints, as JSON, the values the Node test of core.wasm
// (wasm/test/preview.test.mjs) compares the module against, computed by a
// native build of the core packages themselves: limits, blob sizes around
// every bucket boundary, and the QR code of each invite vector. `make
// wasm-node-test` runs it from the repository root, where it finds
// testdata/vectors/invite.json:
//
//	go run ./wasm/internal/expected > dist/expected.json
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/parley-im/parley/core/envelope"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/invite"
	"github.com/parley-im/parley/core/session"
	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/wasm/preview"
	"github.com/parley-im/parley/wasm/qr"
)

type size struct {
	Length   int  `json:"length"`
	PQ       bool `json:"pq"`
	BlobSize int  `json:"blobSize,omitempty"` // absent: too large
	Bucket   int  `json:"bucket,omitempty"`
}

type qrCode struct {
	Name    string `json:"name"`
	Size    int    `json:"size"`
	Version int    `json:"version"`
	SHA256  string `json:"modulesSha256"` // of the modules, one byte each
}

type expected struct {
	API           int      `json:"api"`
	Protocol      int      `json:"protocol"`
	MaxText       int      `json:"maxText"`
	MaxInviteText int      `json:"maxInviteText"`
	IdentitySize  int      `json:"identitySize"`
	MaxBatch      int      `json:"maxBatch"`
	Buckets       []int    `json:"buckets"`
	SealOverhead  int      `json:"sealOverhead"`
	Sizes         []size   `json:"sizes"`
	QR            []qrCode `json:"qr"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "expected: error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	e := expected{
		API: preview.APIVersion, Protocol: int(wire.Version),
		MaxText: session.MaxTextSize, MaxInviteText: invite.MaxTextSize, IdentitySize: identity.PublicSize,
		MaxBatch: preview.MaxBatch, Buckets: envelope.Buckets(), SealOverhead: envelope.SealOverhead,
	}
	// Every length where the bucket changes, with its neighbours, and the
	// ends of the range.
	lengths := map[int]bool{0: true, 1: true, session.MaxTextSize - 1: true, session.MaxTextSize: true, session.MaxTextSize + 1: true}
	for _, pq := range []bool{false, true} {
		prev := 0
		for n := 0; n <= session.MaxTextSize; n++ {
			b, err := session.BlobSize(n, pq)
			if err != nil {
				return err
			}
			if b != prev && n > 0 {
				lengths[n-1], lengths[n], lengths[n+1] = true, true, true
			}
			prev = b
		}
	}
	for _, pq := range []bool{false, true} {
		for n := range session.MaxTextSize + 2 {
			if !lengths[n] {
				continue
			}
			s := size{Length: n, PQ: pq}
			b, err := session.BlobSize(n, pq)
			switch {
			case errors.Is(err, session.ErrTooLarge):
			case err != nil:
				return err
			default:
				s.BlobSize, s.Bucket = b, b-envelope.SealOverhead
			}
			e.Sizes = append(e.Sizes, s)
		}
	}
	var invites []struct {
		Name  string `json:"name"`
		Bytes string `json:"bytes"`
	}
	b, err := os.ReadFile("testdata/vectors/invite.json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &invites); err != nil {
		return err
	}
	for _, v := range invites {
		data, err := hex.DecodeString(v.Bytes)
		if err != nil {
			return err
		}
		m, err := qr.EncodeBytes(data, preview.QRLevel)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(m.Modules())
		e.QR = append(e.QR, qrCode{Name: v.Name, Size: m.Size(), Version: m.Version(), SHA256: hex.EncodeToString(sum[:])})
	}
	out, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s\n", out)
	return err
}
