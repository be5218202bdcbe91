package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/core/pow"
	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/store"
)

var now = time.Unix(1_700_000_000, 0)

func testConfig() Config {
	c := Default()
	c.PowBits = 4
	return c
}

func mustNew(t testing.TB, c Config) *Policy {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// deposit makes a deposit with a stamp of bits solved at stampTime.
func deposit(t testing.TB, blob string, bits uint8, stampTime time.Time) (*proto.Deposit, [32]byte) {
	t.Helper()
	d := &proto.Deposit{Blob: []byte(blob)}
	d.Token[0] = 1
	h := sha256.Sum256(d.Blob)
	st, err := pow.Solve(context.Background(), d.Token, h, stampTime, bits)
	if err != nil {
		t.Fatal(err)
	}
	d.Stamp = st
	return d, h
}

func TestCheckDepositCodes(t *testing.T) {
	t.Parallel()
	p := mustNew(t, testConfig())
	good, gh := deposit(t, "ok", 4, now)
	if err := p.CheckDeposit(good, gh, store.Usage{}, now); err != nil {
		t.Fatal(err)
	}
	if err := p.CheckDeposit(good, gh, store.Usage{}, now); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	weak, wh := deposit(t, "weak", 3, now)
	stale, sh := deposit(t, "stale", 4, now.Add(-pow.DefaultMaxAge-time.Second))
	future, fh := deposit(t, "future", 4, now.Add(pow.DefaultMaxSkew+time.Second))
	other, oh := deposit(t, "other blob", 4, now)
	forged := *other
	forged.Stamp.Nonce++
	for forgedOK := 0; forgedOK < 100; forgedOK++ {
		d := forged.Stamp.Digest(forged.Token, oh)
		if d[0]>>4 != 0 {
			break
		}
		forged.Stamp.Nonce++
	}
	big := &proto.Deposit{Blob: make([]byte, wire.MaxBlobSize)}
	small := testConfig()
	small.MaxBlob = 100
	ps := mustNew(t, small)
	tests := []struct {
		name  string
		p     *Policy
		d     *proto.Deposit
		h     [32]byte
		usage store.Usage
		now   time.Time
		want  proto.Code
	}{
		{"too large", ps, big, [32]byte{}, store.Usage{}, now, proto.CodeTooLarge},
		{"total quota", p, weak, wh, store.Usage{Bytes: DefaultQuotaTotal - 3}, now, proto.CodeQuotaTotal},
		{"insufficient", p, weak, wh, store.Usage{}, now, proto.CodeInsufficientWork},
		{"wrong blob", p, &proto.Deposit{Token: other.Token, Stamp: other.Stamp, Blob: []byte("swapped")}, sha256.Sum256([]byte("swapped")), store.Usage{}, now, proto.CodeInsufficientWork},
		{"forged nonce", p, &forged, oh, store.Usage{}, now, proto.CodeInsufficientWork},
		{"stale", p, stale, sh, store.Usage{}, now, proto.CodeStaleStamp},
		{"future", p, future, fh, store.Usage{}, now, proto.CodeFutureStamp},
		{"clock", p, other, oh, store.Usage{}, time.Time{}, proto.CodeInternal},
	}
	for _, tc := range tests {
		err := tc.p.CheckDeposit(tc.d, tc.h, tc.usage, tc.now)
		var c proto.Code
		if !errors.As(err, &c) || c != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The refused stamps were not spent, except the ones pow spends.
	if err := p.CheckDeposit(other, oh, store.Usage{}, now); err != nil {
		t.Fatalf("a stamp refused for the clock was spent: %v", err)
	}
}

// TestCheapChecksFirst checks that a deposit refused for size or quota does
// not spend its stamp.
func TestCheapChecksFirst(t *testing.T) {
	c := testConfig()
	c.MaxBlob = 10
	c.QuotaTotal = 20
	p := mustNew(t, c)
	d, h := deposit(t, "0123456789", 4, now)
	if err := p.CheckDeposit(d, h, store.Usage{Bytes: 15}, now); !errors.Is(err, proto.CodeQuotaTotal) {
		t.Fatal(err)
	}
	if p.StampsCached() != 0 {
		t.Fatal("stamp spent on a quota refusal")
	}
	if err := p.CheckDeposit(d, h, store.Usage{}, now); err != nil {
		t.Fatal(err)
	}
}

func TestBusy(t *testing.T) {
	c := testConfig()
	c.PowCacheSize = 2
	p := mustNew(t, c)
	for i, blob := range []string{"a", "b", "c"} {
		d, h := deposit(t, blob, 4, now)
		err := p.CheckDeposit(d, h, store.Usage{}, now)
		if i < 2 && err != nil || i == 2 && !errors.Is(err, proto.CodeBusy) {
			t.Fatalf("deposit %d: %v", i, err)
		}
	}
}

func TestCheckHello(t *testing.T) {
	t.Parallel()
	key, _ := proto.GenerateAccessKey(nil)
	other, _ := proto.GenerateAccessKey(nil)
	text, _ := key.MarshalText()
	same, _ := proto.ParseAccessKey(text)
	public := mustNew(t, testConfig())
	c := testConfig()
	c.AccessKey = key
	private := mustNew(t, c)
	tests := []struct {
		p    *Policy
		h    *proto.Hello
		want proto.Code
	}{
		{public, &proto.Hello{}, proto.CodeOK},
		{public, &proto.Hello{AccessKey: other}, proto.CodeOK},
		{private, &proto.Hello{}, proto.CodeAccessDenied},
		{private, &proto.Hello{AccessKey: other}, proto.CodeAccessDenied},
		{private, &proto.Hello{AccessKey: same}, proto.CodeOK},
	}
	for i, tc := range tests {
		if got := tc.p.CheckHello(tc.h); got != tc.want {
			t.Errorf("case %d: %v, want %v", i, got, tc.want)
		}
	}
}

func TestAdmit(t *testing.T) {
	t.Parallel()
	c := testConfig()
	c.MaxConns = 10
	p := mustNew(t, c)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 100 {
		wg.Go(func() {
			if p.Admit() {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if admitted != 10 || p.Conns() != 10 {
		t.Fatalf("admitted %d, conns %d", admitted, p.Conns())
	}
	p.Release()
	if !p.Admit() || p.Admit() {
		t.Fatal("release did not free exactly one slot")
	}
}

func TestConfigRanges(t *testing.T) {
	t.Parallel()
	bad := []func(*Config){
		func(c *Config) { c.PowBits = 0 },
		func(c *Config) { c.PowBits = pow.MaxBits + 1 },
		func(c *Config) { c.MaxBlob = 0 },
		func(c *Config) { c.MaxBlob = wire.MaxBlobSize + 1 },
		func(c *Config) { c.TTL = 0 },
		func(c *Config) { c.TTL = 1500 * time.Millisecond },
		func(c *Config) { c.TTL = MaxTTL + time.Second },
		func(c *Config) { c.QuotaPerToken = 0 },
		func(c *Config) { c.QuotaTotal = int64(c.MaxBlob) - 1 },
		func(c *Config) { c.MaxConns = 0 },
		func(c *Config) { c.MaxConns = MaxMaxConns + 1 },
		func(c *Config) { c.PowCacheSize = pow.MaxCacheSize + 1 },
	}
	for i, f := range bad {
		c := Default()
		f(&c)
		if _, err := New(c); err == nil {
			t.Errorf("case %d accepted: %+v", i, c)
		}
	}
	p := mustNew(t, Default())
	l := p.StoreLimits()
	if l.DedupeWindow != pow.DefaultMaxAge+pow.DefaultMaxSkew || l.TTL != DefaultTTL || l.MaxItemsPerToken != DefaultQuotaPerToken {
		t.Fatalf("store limits %+v", l)
	}
	w := p.Welcome(now)
	if w.PowBits != pow.DefaultBits || w.MaxBlob != wire.MaxBlobSize || w.TTL != uint32(DefaultTTL/time.Second) || w.Time != uint64(now.Unix()) {
		t.Fatalf("welcome %+v", w)
	}
	if _, err := proto.ParseWelcome(w.Marshal()); err != nil {
		t.Fatalf("welcome does not parse: %v", err)
	}
}
