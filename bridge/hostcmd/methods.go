package hostcmd

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/parley-im/parley/bridge/engine"
	"github.com/parley-im/parley/bridge/keystore"
	"github.com/parley-im/parley/bridge/nmhost"
	"github.com/parley-im/parley/core/invite"
)

// Params and results of the methods (docs/NATIVE_MESSAGING.md, "Methods
// and events").

// PingResult answers ping.
type PingResult struct {
	Pong    bool   `json:"pong"`
	Version string `json:"version"`
}

// StatusResult answers status.
type StatusResult struct {
	// State is one of the State constants.
	State string `json:"state"`
	// Detail explains a state other than ready.
	Detail  string `json:"detail,omitempty"`
	Profile string `json:"profile"`
	// Keystore is "os", "passphrase" or "" (not set up yet).
	Keystore string `json:"keystore"`
	// Engine is the engine's status when State is ready.
	Engine *engine.Status `json:"engine"`
}

// UnlockParams are profile.unlock's params.
type UnlockParams struct {
	Passphrase string `json:"passphrase"`
}

// Validate implements nmhost.Validator.
func (p UnlockParams) Validate() error {
	if len(p.Passphrase) < keystore.MinPassphraseLen || len(p.Passphrase) > keystore.MaxPassphraseLen {
		return fmt.Errorf("params: field \"passphrase\" must be %d to %d bytes", keystore.MinPassphraseLen, keystore.MaxPassphraseLen)
	}
	return nil
}

// InviteCreateParams are invite.create's params.
type InviteCreateParams struct {
	// LifetimeSeconds is how long the invite works; 0 means a week.
	LifetimeSeconds int64 `json:"lifetimeSeconds"`
}

// Validate implements nmhost.Validator.
func (p InviteCreateParams) Validate() error {
	if p.LifetimeSeconds != 0 && (p.LifetimeSeconds < int64(invite.MinLifetime/time.Second) || p.LifetimeSeconds > int64(invite.MaxLifetime/time.Second)) {
		return fmt.Errorf("params: field \"lifetimeSeconds\" must be 0 or %d to %d", int64(invite.MinLifetime/time.Second), int64(invite.MaxLifetime/time.Second))
	}
	return nil
}

// InviteAcceptParams are invite.accept's params.
type InviteAcceptParams struct {
	Text    string `json:"text"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// Validate implements nmhost.Validator.
func (p InviteAcceptParams) Validate() error {
	if p.Text == "" || len(p.Text) > invite.MaxTextSize+64 {
		return errors.New("params: field \"text\" must hold an invite")
	}
	return nil
}

// ContactParams name a contact.
type ContactParams struct {
	Contact int64 `json:"contact"`
}

// Validate implements nmhost.Validator.
func (p ContactParams) Validate() error { return checkContact(p.Contact) }

func checkContact(id int64) error {
	if id <= 0 {
		return errors.New("params: field \"contact\" must be a contact id (positive)")
	}
	return nil
}

// VerifyParams are contact.verify's params.
type VerifyParams struct {
	Contact  int64 `json:"contact"`
	Verified bool  `json:"verified"`
}

// Validate implements nmhost.Validator.
func (p VerifyParams) Validate() error { return checkContact(p.Contact) }

// RenameParams are contact.rename's params.
type RenameParams struct {
	Contact int64  `json:"contact"`
	Name    string `json:"name"`
}

// Validate implements nmhost.Validator.
func (p RenameParams) Validate() error {
	if len(p.Name) > 200 {
		return errors.New("params: field \"name\" must be at most 200 bytes")
	}
	return checkContact(p.Contact)
}

// SendParams are messages.send's params.
type SendParams struct {
	Contact int64  `json:"contact"`
	Text    string `json:"text"`
}

// Validate implements nmhost.Validator.
func (p SendParams) Validate() error {
	if p.Text == "" || len(p.Text) > engine.MaxTextSize {
		return fmt.Errorf("params: field \"text\" must be 1 to %d bytes", engine.MaxTextSize)
	}
	return checkContact(p.Contact)
}

// ListParams are messages.list's params.
type ListParams struct {
	Contact int64 `json:"contact"`
	// Before is a cursor (a page's older value); 0 means the newest.
	Before int64 `json:"before"`
	// Limit is the page size, 1..engine.MaxPageSize; 0 means 50.
	Limit int `json:"limit"`
}

// Validate implements nmhost.Validator.
func (p ListParams) Validate() error {
	if p.Limit < 0 || p.Limit > engine.MaxPageSize {
		return fmt.Errorf("params: field \"limit\" must be 0 to %d", engine.MaxPageSize)
	}
	if p.Before < 0 {
		return errors.New("params: field \"before\" must not be negative")
	}
	return checkContact(p.Contact)
}

// FileParams are profile.export's and profile.import's params.
type FileParams struct {
	// Path is the export file's absolute path.
	Path string `json:"path"`
	// Passphrase encrypts the export (Argon2id + XChaCha20-Poly1305).
	Passphrase string `json:"passphrase"`
}

// Validate implements nmhost.Validator.
func (p FileParams) Validate() error {
	if p.Path == "" || len(p.Path) > 4096 {
		return errors.New("params: field \"path\" must be an absolute file path")
	}
	return UnlockParams{Passphrase: p.Passphrase}.Validate()
}

// ContactsResult answers contacts.list.
type ContactsResult struct {
	Contacts []engine.Contact `json:"contacts"`
}

// mapErr turns engine errors into coded replies; anything else stays an
// internal error (logged by nmhost, never shown).
func mapErr(err error) error {
	var ee *engine.Error
	if errors.As(err, &ee) {
		return nmhost.NewError(ee.Code, ee.Message)
	}
	return err
}

// withEngine wraps a method that needs the open profile.
func withEngine[P, R any](h *host, fn func(ctx context.Context, e *engine.Engine, p P) (R, error)) func(ctx context.Context, p P) (R, error) {
	return func(ctx context.Context, p P) (R, error) {
		e, err := h.engine()
		if err != nil {
			var zero R
			return zero, err
		}
		r, err := fn(ctx, e, p)
		return r, mapErr(err)
	}
}

func (h *host) register(r *nmhost.Router) {
	nmhost.Handle(r, "ping", func(context.Context, struct{}) (PingResult, error) {
		return PingResult{Pong: true, Version: version()}, nil
	})
	nmhost.Handle(r, "status", func(ctx context.Context, _ struct{}) (*StatusResult, error) {
		return h.status(ctx), nil
	})
	nmhost.Handle(r, "profile.unlock", func(ctx context.Context, p UnlockParams) (*StatusResult, error) {
		pass := []byte(p.Passphrase)
		defer clear(pass)
		if err := h.unlock(pass); err != nil {
			return nil, err
		}
		return h.status(ctx), nil
	})
	nmhost.Handle(r, "identity.create", withEngine(h, func(ctx context.Context, e *engine.Engine, _ struct{}) (*engine.IdentityInfo, error) {
		return e.CreateIdentity(ctx)
	}))
	nmhost.Handle(r, "identity.get", withEngine(h, func(ctx context.Context, e *engine.Engine, _ struct{}) (*engine.IdentityInfo, error) {
		return e.Identity(ctx)
	}))
	nmhost.Handle(r, "identity.rotate", withEngine(h, func(ctx context.Context, e *engine.Engine, _ struct{}) (*engine.RotateResult, error) {
		return e.RotateIdentity(ctx)
	}))
	nmhost.Handle(r, "invite.create", withEngine(h, func(ctx context.Context, e *engine.Engine, p InviteCreateParams) (*engine.CreatedInvite, error) {
		return e.CreateInvite(ctx, time.Duration(p.LifetimeSeconds)*time.Second)
	}))
	nmhost.Handle(r, "invite.accept", withEngine(h, func(ctx context.Context, e *engine.Engine, p InviteAcceptParams) (*engine.Contact, error) {
		return e.AcceptInvite(ctx, p.Text, p.Name, p.Message)
	}))
	nmhost.Handle(r, "contacts.list", withEngine(h, func(ctx context.Context, e *engine.Engine, _ struct{}) (*ContactsResult, error) {
		cs, err := e.Contacts(ctx)
		if err != nil {
			return nil, err
		}
		return &ContactsResult{Contacts: cs}, nil
	}))
	nmhost.Handle(r, "contact.safety", withEngine(h, func(ctx context.Context, e *engine.Engine, p ContactParams) (*engine.SafetyNumber, error) {
		return e.Safety(ctx, p.Contact)
	}))
	nmhost.Handle(r, "contact.verify", withEngine(h, func(ctx context.Context, e *engine.Engine, p VerifyParams) (*engine.Contact, error) {
		return e.Verify(ctx, p.Contact, p.Verified)
	}))
	nmhost.Handle(r, "contact.acceptKeyChange", withEngine(h, func(ctx context.Context, e *engine.Engine, p ContactParams) (*engine.Contact, error) {
		return e.AcceptKeyChange(ctx, p.Contact)
	}))
	nmhost.Handle(r, "contact.rename", withEngine(h, func(ctx context.Context, e *engine.Engine, p RenameParams) (*engine.Contact, error) {
		return e.Rename(ctx, p.Contact, p.Name)
	}))
	nmhost.Handle(r, "messages.send", withEngine(h, func(ctx context.Context, e *engine.Engine, p SendParams) (*engine.Message, error) {
		return e.Send(ctx, p.Contact, p.Text)
	}))
	nmhost.Handle(r, "messages.list", withEngine(h, func(ctx context.Context, e *engine.Engine, p ListParams) (*engine.Page, error) {
		return e.Messages(ctx, p.Contact, p.Before, p.Limit)
	}))
	nmhost.Handle(r, "profile.export", withEngine(h, func(ctx context.Context, e *engine.Engine, p FileParams) (*engine.ExportResult, error) {
		pass := []byte(p.Passphrase)
		defer clear(pass)
		return e.Export(ctx, p.Path, pass, keystore.Params{})
	}))
	nmhost.Handle(r, "profile.import", withEngine(h, func(ctx context.Context, e *engine.Engine, p FileParams) (*engine.ExportResult, error) {
		pass := []byte(p.Passphrase)
		defer clear(pass)
		return e.Import(ctx, p.Path, pass)
	}))
	nmhost.Handle(r, "settings.get", withEngine(h, func(ctx context.Context, e *engine.Engine, _ struct{}) (*engine.Settings, error) {
		return e.Settings(ctx)
	}))
	nmhost.Handle(r, "settings.set", withEngine(h, func(ctx context.Context, e *engine.Engine, p engine.SettingsUpdate) (*engine.Settings, error) {
		return e.UpdateSettings(ctx, p)
	}))
}

// status answers status in every state.
func (h *host) status(ctx context.Context) *StatusResult {
	h.mu.Lock()
	st := &StatusResult{State: h.state, Detail: h.detail, Profile: h.opts.profile, Keystore: string(h.mode)}
	e := h.eng
	h.mu.Unlock()
	if e != nil {
		if es, err := e.Status(ctx); err == nil {
			st.Engine = es
		}
	}
	return st
}

// version returns the module version from the build information.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Version == "" {
		return "(unknown)"
	}
	return bi.Main.Version
}
