package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/store"
)

// healthTimeout bounds the store's reachability check in a health report.
const healthTimeout = 2 * time.Second

// counters are the server's aggregate counters. None is per client or per
// mailbox.
type counters struct {
	deposits, duplicates, replays   atomic.Uint64
	fetches, delivered, acks, acked atomic.Uint64
	pings, expired                  atomic.Uint64
	accepted, refused, handshakes   atomic.Uint64
	handshakeFailed, frameTooLarge  atomic.Uint64
	badFrames, timeouts             atomic.Uint64
	open                            atomic.Int64
	rejections                      []atomic.Uint64 // indexed by proto.Code
}

// Stats is the health endpoint's JSON: aggregate counters since start, and
// the store's current totals. It never holds a token, an id, an address or
// anything else about one client or mailbox.
type Stats struct {
	// Deposits stored, and deposits answered as duplicates of a stored one.
	Deposits   uint64 `json:"deposits"`
	Duplicates uint64 `json:"duplicates"`
	// ReplayedStamps counts deposits whose stamp the verifier had seen.
	ReplayedStamps uint64 `json:"replayed_stamps"`
	// Fetches answered and items delivered in them.
	Fetches        uint64 `json:"fetches"`
	ItemsDelivered uint64 `json:"items_delivered"`
	// Acks answered and items they deleted.
	Acks       uint64 `json:"acks"`
	ItemsAcked uint64 `json:"items_acked"`
	Pings      uint64 `json:"pings"`
	// ItemsExpired counts items the sweeper deleted.
	ItemsExpired uint64 `json:"items_expired"`
	// Items and BytesStored are the store's current totals.
	Items       uint64 `json:"items"`
	BytesStored uint64 `json:"bytes_stored"`
	// StampsCached is the size of the stamp replay cache.
	StampsCached int `json:"stamps_cached"`
	// Store is the store's kind and whether its database answers.
	Store       StoreStats `json:"store"`
	Connections ConnStats  `json:"connections"`
	Rejections  Rejections `json:"rejections"`
}

// StoreStats says which store serves and whether it can serve now.
type StoreStats struct {
	// Kind is "bbolt" or "postgres" ("unknown" for a store that does not
	// report).
	Kind string `json:"kind"`
	// Reachable is false while the store's database cannot be reached
	// (requests then get the code "unavailable"), and for a store that
	// does not report.
	Reachable bool `json:"reachable"`
}

// ConnStats counts connections.
type ConnStats struct {
	Open            int64  `json:"open"`
	Accepted        uint64 `json:"accepted"`
	RefusedAtLimit  uint64 `json:"refused_at_limit"`
	Handshakes      uint64 `json:"handshakes"`
	HandshakeFailed uint64 `json:"handshake_failed"`
	FrameTooLarge   uint64 `json:"frame_too_large"`
	BadFrames       uint64 `json:"bad_frames"`
	Timeouts        uint64 `json:"timeouts"`
}

// Rejections counts refusals by error code name (proto.Code.String()),
// every code present.
type Rejections map[string]uint64

// Stats returns a snapshot of the counters, with the store's health
// checked within healthTimeout.
func (s *Server) Stats() Stats { return s.statsContext(context.Background()) }

func (s *Server) statsContext(ctx context.Context) Stats {
	c := &s.stats
	u := s.cfg.Store.Usage()
	st := Stats{
		Deposits: c.deposits.Load(), Duplicates: c.duplicates.Load(), ReplayedStamps: c.replays.Load(),
		Fetches: c.fetches.Load(), ItemsDelivered: c.delivered.Load(),
		Acks: c.acks.Load(), ItemsAcked: c.acked.Load(), Pings: c.pings.Load(),
		ItemsExpired: c.expired.Load(), Items: u.Items, BytesStored: u.Bytes,
		StampsCached: s.cfg.Policy.StampsCached(),
		Connections: ConnStats{
			Open: c.open.Load(), Accepted: c.accepted.Load(), RefusedAtLimit: c.refused.Load(),
			Handshakes: c.handshakes.Load(), HandshakeFailed: c.handshakeFailed.Load(),
			FrameTooLarge: c.frameTooLarge.Load(), BadFrames: c.badFrames.Load(), Timeouts: c.timeouts.Load(),
		},
		Rejections: Rejections{},
	}
	for _, code := range proto.Codes() {
		st.Rejections[code.String()] = c.rejections[code].Load()
	}
	st.Store = StoreStats{Kind: "unknown"}
	if hr, ok := s.cfg.Store.(store.HealthReporter); ok {
		hctx, cancel := context.WithTimeout(ctx, healthTimeout)
		h := hr.Health(hctx)
		cancel()
		st.Store = StoreStats{Kind: h.Kind, Reachable: h.Reachable}
	}
	return st
}

// HealthHandler serves GET /health with Stats as JSON. It answers only
// requests whose Host is a loopback IP literal (with any port), so a web
// page cannot read it through DNS rebinding; anything else is 403, other
// paths 404, other methods 405.
func (s *Server) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		json.NewEncoder(w).Encode(s.statsContext(r.Context()))
	})
}

// loopbackHost reports whether a Host header names a loopback IP.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback() && ip.Zone() == ""
}
