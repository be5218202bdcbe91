package engine

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"

	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/envelope"
	"github.com/parley-im/parley/core/suite"
)

// Cover traffic (opt-in, settings.set {cover: true}): at a jittered steady
// cadence the engine deposits one cover blob at its relay, under a token
// derived from a device secret, and reclaims (fetches and acks) cover
// blobs at every poll. A cover blob is an envelope of the smallest bucket,
// the size of a short text message (session.BlobSize(0, false)), sealed
// under a fresh random key nobody keeps: the relay cannot open it nor tell
// it from a message. It masks idle versus active and the deposit volume,
// not the timing of one send (docs/THREAT_MODEL.md).

// DefaultCoverInterval is the mean time between cover deposits.
const DefaultCoverInterval = 2 * time.Minute

// settingCoverSecret holds the device's cover secret (hex, in the
// encrypted profile; never shown by settings.get nor exported).
const settingCoverSecret = "cover.secret"

// coverSecretSize is the size of the cover secret.
const coverSecretSize = 32

// CoverBlobSize is the size of every cover blob: that of a short text
// message (session.BlobSize(n, false) for n ≤ 155: the smallest bucket).
const CoverBlobSize = 284

// coverToken derives the cover token of an epoch (suite.LabelCoverToken,
// salt = epoch as u64 big-endian).
func coverToken(secret []byte, epoch uint64) address.Token {
	var t address.Token
	suite.KDF(t[:], secret, binary.BigEndian.AppendUint64(nil, epoch), suite.LabelCoverToken)
	return t
}

// coverSecret returns the cover secret, creating it on first use; nil if
// cover traffic is off.
func (e *Engine) coverSecret(ctx context.Context) ([]byte, error) {
	var (
		sec     []byte
		on, has bool
	)
	read := func(tx *store.Tx) error {
		s, err := readSettings(tx)
		if err != nil {
			return err
		}
		on = s.Cover
		v, err := tx.Setting(settingCoverSecret)
		if errors.Is(err, store.ErrNotFound) || !on {
			return nil
		}
		if err != nil {
			return err
		}
		if sec, err = hex.DecodeString(v); err == nil && len(sec) != coverSecretSize {
			err = errors.New("engine: stored cover secret has the wrong size")
		}
		has = err == nil
		return err
	}
	if err := e.db.View(ctx, read); err != nil || !on || has {
		if err != nil || !on {
			clear(sec)
			return nil, err
		}
		return sec, nil
	}
	err := e.db.Update(ctx, func(tx *store.Tx) error {
		if err := read(tx); err != nil || !on || has {
			return err
		}
		sec = make([]byte, coverSecretSize)
		if err := suite.ReadRandom(e.rand, sec); err != nil {
			return err
		}
		return tx.SetSetting(settingCoverSecret, hex.EncodeToString(sec))
	})
	if err != nil || !on {
		clear(sec)
		return nil, err
	}
	return sec, nil
}

// coverTokens returns the cover tokens to reclaim at now (this epoch and
// the one before), or nil if cover traffic is off.
func (e *Engine) coverTokens(ctx context.Context, now time.Time) ([]address.Token, error) {
	sec, err := e.coverSecret(ctx)
	if err != nil || sec == nil {
		return nil, err
	}
	defer clear(sec)
	ep, err := address.Epoch(now, address.DefaultEpochLength)
	if err != nil {
		return nil, err
	}
	toks := []address.Token{coverToken(sec, ep)}
	if ep > 0 {
		toks = append(toks, coverToken(sec, ep-1))
	}
	return toks, nil
}

// coverLoop deposits a cover blob every CoverInterval (jittered ±25%)
// while cover traffic is on, until ctx ends.
func (e *Engine) coverLoop(ctx context.Context) {
	for {
		if !sleep(ctx, e.jitter(e.cfg.CoverInterval), nil) {
			return
		}
		if err := e.depositCover(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("engine: cover deposit failed", "err", err)
		}
	}
}

// depositCover deposits one cover blob at the profile's relay (or its
// second relay while the first is unreachable) if cover traffic is on.
func (e *Engine) depositCover(ctx context.Context) error {
	now, err := e.clock()
	if err != nil {
		return err
	}
	sec, err := e.coverSecret(ctx)
	if err != nil || sec == nil {
		return err
	}
	defer clear(sec)
	s, err := e.Settings(ctx)
	if err != nil || s.Relay == "" {
		return err
	}
	ep, err := address.Epoch(now, address.DefaultEpochLength)
	if err != nil {
		return err
	}
	tok := coverToken(sec, ep)
	blob, err := coverBlob(e, tok)
	if err != nil {
		return err
	}
	used := s.Relay
	err = e.depositAt(ctx, s.Relay, tok, blob)
	if err != nil && s.Relay2 != "" && ctx.Err() == nil {
		if e.depositAt(ctx, s.Relay2, tok, blob) == nil {
			err, used = nil, s.Relay2
		}
	}
	if err == nil {
		e.setInUse(used)
	}
	return err
}

// coverBlob seals an empty body (smallest bucket) under a random key that
// is wiped at once: CoverBlobSize bytes nobody can open.
func coverBlob(e *Engine, tok address.Token) ([]byte, error) {
	var key [suite.KeySize]byte
	defer clear(key[:])
	if err := suite.ReadRandom(e.rand, key[:]); err != nil {
		return nil, err
	}
	return envelope.Seal(e.rand, &key, tok, envelope.KindMessage, nil)
}
