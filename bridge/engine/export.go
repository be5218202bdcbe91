package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/bridge/keystore"
	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/identity"
)

// Profile export file (profile.export / profile.import): a
// passphrase-encrypted copy of the identity, prekeys, contacts with their
// pins and conversation states, history, outbox and relay settings, for a
// user who loses the OS keystore to recover from. Layout:
//
//	magic[16] = "PARLEY-EXPORT\x00\x00\x01"
//	u32 argon2id time || u32 memory KiB || u8 threads   (big-endian)
//	salt[16] || nonce[24]
//	XChaCha20-Poly1305(key = Argon2id(passphrase, salt), nonce,
//	                   plaintext = JSON document, ad = everything before)
//
// Pending invites and accepted-transcript hashes are not exported; an
// imported profile must not be used beside the original (the two would
// fork the conversations' ratchets): it is for recovery, not sync.
const (
	exportMagic = "PARLEY-EXPORT\x00\x00\x01"
	exportHead  = len(exportMagic) + 4 + 4 + 1 + 16 + chacha20poly1305.NonceSizeX
	// MaxExportSize bounds an export file.
	MaxExportSize = 512 << 20
	// CodeBadExport: the file is not an export, is damaged, or the
	// passphrase is wrong (one opaque code for all three).
	CodeBadExport = "bad_export"
)

type exportDoc struct {
	Version  int               `json:"version"`
	Identity []byte            `json:"identity"`
	Prekeys  []byte            `json:"prekeys"`
	Settings map[string]string `json:"settings"`
	Contacts []exportContact   `json:"contacts"`
}

type exportContact struct {
	Name            string          `json:"name"`
	Identity        []byte          `json:"identity"`
	Pin             store.PinState  `json:"pin"`
	SafetyVerified  bool            `json:"safetyVerified"`
	PendingIdentity []byte          `json:"pendingIdentity,omitempty"`
	Session         []byte          `json:"session,omitempty"`
	Relay           string          `json:"relay,omitempty"`
	Messages        []store.Message `json:"messages"`
	Outbox          []exportOutbox  `json:"outbox,omitempty"`
}

type exportOutbox struct {
	MessageID store.MessageID `json:"id"`
	Token     []byte          `json:"token"`
	Blob      []byte          `json:"blob"`
}

// ExportResult answers profile.export.
type ExportResult struct {
	Path     string `json:"path"`
	Bytes    int    `json:"bytes"`
	Contacts int    `json:"contacts"`
	Messages int    `json:"messages"`
}

// Export writes the profile, encrypted under passphrase, to path (a new
// file, mode 0600). params zero means keystore.DefaultParams.
func (e *Engine) Export(ctx context.Context, path string, passphrase []byte, params keystore.Params) (*ExportResult, error) {
	if len(passphrase) < keystore.MinPassphraseLen || len(passphrase) > keystore.MaxPassphraseLen {
		return nil, errorf(CodeInvalidParams, "passphrase: must be %d to %d bytes", keystore.MinPassphraseLen, keystore.MaxPassphraseLen)
	}
	if !filepath.IsAbs(path) {
		return nil, errorf(CodeInvalidParams, "path: must be absolute")
	}
	if params == (keystore.Params{}) {
		params = keystore.DefaultParams()
	}
	doc := exportDoc{Version: 1, Settings: map[string]string{}}
	res := &ExportResult{Path: path}
	err := e.db.View(ctx, func(tx *store.Tx) error {
		var err error
		if doc.Identity, err = tx.Identity(); errors.Is(err, store.ErrNotFound) {
			return errorf(CodeNoIdentity, "no identity to export")
		} else if err != nil {
			return err
		}
		if doc.Prekeys, err = tx.Prekeys(); err != nil {
			return err
		}
		for _, k := range []string{store.SettingRelayAddress, store.SettingRelayFallback} {
			if v, err := tx.Setting(k); err == nil {
				doc.Settings[k] = v
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		outbox, err := tx.DueOutbox(time.Unix(1<<40, 0), store.MaxPageSize)
		if err != nil {
			return err
		}
		for _, c := range cs {
			ec := exportContact{Name: c.Name, Identity: c.Identity, Pin: c.Pin, SafetyVerified: c.SafetyVerified,
				PendingIdentity: c.PendingIdentity}
			if ec.Session, err = tx.Session(c.ID); err != nil {
				return err
			}
			if v, err := tx.Setting(contactRelayKey(c.ID)); err == nil {
				ec.Relay = v
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			var before store.Cursor
			var pages [][]store.Message
			for {
				pg, err := tx.Messages(c.ID, before, store.MaxPageSize)
				if err != nil {
					return err
				}
				pages = append(pages, pg.Messages)
				if pg.Older == 0 {
					break
				}
				before = pg.Older
			}
			for i := len(pages) - 1; i >= 0; i-- {
				ec.Messages = append(ec.Messages, pages[i]...)
			}
			for _, it := range outbox {
				if it.Contact == c.ID {
					ec.Outbox = append(ec.Outbox, exportOutbox{MessageID: it.MessageID, Token: it.Token, Blob: it.Blob})
				}
			}
			res.Messages += len(ec.Messages)
			doc.Contacts = append(doc.Contacts, ec)
		}
		res.Contacts = len(cs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(doc)
	clear(doc.Identity)
	clear(doc.Prekeys)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	head := make([]byte, exportHead)
	copy(head, exportMagic)
	o := len(exportMagic)
	binary.BigEndian.PutUint32(head[o:], params.Time)
	binary.BigEndian.PutUint32(head[o+4:], params.MemoryKiB)
	head[o+8] = params.Threads
	if _, err := io.ReadFull(e.rand, head[o+9:]); err != nil {
		return nil, err
	}
	salt, nonce := head[o+9:o+25], head[o+25:]
	key := argon2.IDKey(passphrase, salt, params.Time, params.MemoryKiB, params.Threads, chacha20poly1305.KeySize)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	out := aead.Seal(head, nonce, plain, head)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, errorf(CodeExists, "path: the file exists")
	} else if err != nil {
		return nil, errorf(CodeInvalidParams, "path: cannot create the file")
	}
	if _, err := f.Write(out); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	res.Bytes = len(out)
	return res, nil
}

// Import restores an export into this profile, which must have no identity
// yet (CodeExists otherwise). Any failure changes nothing.
func (e *Engine) Import(ctx context.Context, path string, passphrase []byte) (*ExportResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errorf(CodeInvalidParams, "path: cannot open the file")
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxExportSize+1))
	f.Close()
	if err != nil {
		return nil, errorf(CodeInvalidParams, "path: cannot read the file")
	}
	bad := errorf(CodeBadExport, "not a Parley export, damaged, or the wrong passphrase")
	if len(b) > MaxExportSize || len(b) < exportHead+chacha20poly1305.Overhead || !bytes.Equal(b[:len(exportMagic)], []byte(exportMagic)) {
		return nil, bad
	}
	o := len(exportMagic)
	p := keystore.Params{Time: binary.BigEndian.Uint32(b[o:]), MemoryKiB: binary.BigEndian.Uint32(b[o+4:]), Threads: b[o+8]}
	if p.Time < 1 || p.Time > keystore.MaxTime || p.MemoryKiB < 8 || p.MemoryKiB > keystore.MaxMemoryKiB || p.Threads < 1 || p.Threads > keystore.MaxThreads {
		return nil, bad
	}
	head := b[:exportHead]
	key := argon2.IDKey(passphrase, head[o+9:o+25], p.Time, p.MemoryKiB, p.Threads, chacha20poly1305.KeySize)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, head[o+25:], b[exportHead:], head)
	if err != nil {
		return nil, bad
	}
	defer clear(plain)
	var doc exportDoc
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || doc.Version != 1 {
		return nil, bad
	}
	defer clear(doc.Identity)
	defer clear(doc.Prekeys)
	now, err := e.clock()
	if err != nil {
		return nil, err
	}
	res := &ExportResult{Path: path, Bytes: len(b), Contacts: len(doc.Contacts)}
	err = e.db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.Identity(); err == nil {
			return errorf(CodeExists, "the profile already has an identity: import into a new profile")
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		cp := bytes.Clone(doc.Identity)
		_, err := identity.ParsePrivate(cp)
		clear(cp)
		if err != nil {
			return bad
		}
		if err := tx.PutIdentity(doc.Identity, now); err != nil {
			return err
		}
		if err := tx.PutPrekeys(doc.Prekeys, now); err != nil {
			return err
		}
		for k, v := range doc.Settings {
			if k != store.SettingRelayAddress && k != store.SettingRelayFallback {
				return bad
			}
			if err := tx.SetSetting(k, v); err != nil {
				return err
			}
		}
		for _, c := range doc.Contacts {
			id, err := tx.AddContact(c.Name, c.Identity, now)
			if err != nil {
				return fmt.Errorf("engine: import contact: %w", err)
			}
			if c.SafetyVerified {
				if err := tx.SetVerified(id, true, now); err != nil {
					return err
				}
				if c.Pin != store.PinVerified {
					if err := tx.SetVerified(id, false, now); err != nil {
						return err
					}
				}
			}
			if c.Pin == store.PinChanged {
				if err := tx.MarkIdentityChanged(id, c.PendingIdentity, now); err != nil {
					return err
				}
			}
			if len(c.Session) > 0 {
				if err := tx.PutSession(id, c.Session, now); err != nil {
					return err
				}
			}
			if c.Relay != "" {
				if err := tx.SetSetting(contactRelayKey(id), c.Relay); err != nil {
					return err
				}
			}
			for i := range c.Messages {
				m := c.Messages[i]
				m.Contact, m.Seq = id, 0
				if err := tx.AddMessage(&m); err != nil {
					return fmt.Errorf("engine: import message: %w", err)
				}
				if m.Direction == store.Incoming {
					if _, err := tx.MarkSeen(id, m.ID, now); err != nil {
						return err
					}
				}
			}
			for _, it := range c.Outbox {
				if err := tx.Enqueue(&store.OutboxItem{MessageID: it.MessageID, Contact: id, Token: it.Token, Blob: it.Blob, NextAt: now}); err != nil {
					return err
				}
			}
			res.Messages += len(c.Messages)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.kick()
	e.PollNow()
	e.emitStatus(ctx)
	return res, nil
}
