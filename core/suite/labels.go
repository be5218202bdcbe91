package suite

// Labels for every KDF, MAC, transcript and signature in protocol version 1.
// Each use has its own label; docs/PROTOCOL.md lists them byte for byte, and
// TestLabelsUnique keeps them distinct. A new use adds a new label here.
const (
	// LabelIdentityBinding is signed by the Ed25519 identity key over the
	// X25519 identity key.
	LabelIdentityBinding = "parley/v1/identity/dh-binding"
	// LabelSafetyNumber prefixes the iterated safety-number hash.
	LabelSafetyNumber = "parley/v1/safety-number"
	// LabelRotation is signed by both keys of an identity rotation statement.
	LabelRotation = "parley/v1/identity/rotation"
	// LabelSignedPrekey is signed over a signed X25519 prekey.
	LabelSignedPrekey = "parley/v1/prekey/x25519"
	// LabelKEMPrekey is signed over an X-Wing prekey (one-time or last resort).
	LabelKEMPrekey = "parley/v1/prekey/xwing"
	// LabelHandshakeTranscript starts the first-contact transcript hash.
	LabelHandshakeTranscript = "parley/v1/handshake/transcript"
	// LabelHandshakeKDF derives the first-contact session keys.
	LabelHandshakeKDF = "parley/v1/handshake/kdf"
	// LabelRatchetRoot derives a new root key and chain key in a DH step.
	LabelRatchetRoot = "parley/v1/ratchet/root"
	// LabelRatchetPQ mixes an X-Wing shared secret into the root key.
	LabelRatchetPQ = "parley/v1/ratchet/pq"
	// LabelChainMessageKey derives a message key from a chain key (HMAC).
	LabelChainMessageKey = "parley/v1/ratchet/chain/message"
	// LabelChainNext advances a chain key (HMAC).
	LabelChainNext = "parley/v1/ratchet/chain/next"
	// LabelMessageKeys expands a message key into an AEAD key and nonce.
	LabelMessageKeys = "parley/v1/ratchet/message-keys"
	// LabelMailboxToken derives a mailbox token for an epoch and direction.
	LabelMailboxToken = "parley/v1/address/token"
	// LabelMailboxSeal derives the envelope sealing key for an epoch and
	// direction.
	LabelMailboxSeal = "parley/v1/address/seal"
	// LabelFirstContactToken derives the first-contact token from an invite
	// secret.
	LabelFirstContactToken = "parley/v1/address/first-contact-token"
	// LabelFirstContactSeal derives the first-contact envelope key from an
	// invite secret.
	LabelFirstContactSeal = "parley/v1/address/first-contact-seal"
	// LabelConversationSecret derives the per-conversation addressing secret
	// from the first-contact shared secret.
	LabelConversationSecret = "parley/v1/address/conversation"
	// LabelPoW prefixes the hashcash input.
	LabelPoW = "parley/v1/pow"
	// LabelInviteChecksum prefixes the invite checksum.
	LabelInviteChecksum = "parley/v1/invite/checksum"
	// LabelInviteSignature is signed by the inviter over the invite body.
	LabelInviteSignature = "parley/v1/invite/signature"
	// LabelSafetyNumberEmoji prefixes the hash that picks a safety number's
	// emoji rendering.
	LabelSafetyNumberEmoji = "parley/v1/safety-emoji"
	// LabelEnvelope begins the associated data of an envelope seal, followed
	// by the mailbox token the envelope is deposited under.
	LabelEnvelope = "parley/v1/envelope"
	// LabelCoverToken derives, from a device's cover-traffic secret and an
	// epoch, the token its cover blobs are deposited under (the bridge's
	// opt-in cover traffic, docs/NATIVE_MESSAGING.md "Cover traffic").
	LabelCoverToken = "parley/v1/bridge/cover-token"
)

// Labels returns every label, for tests and documentation.
func Labels() []string {
	return []string{
		LabelIdentityBinding, LabelSafetyNumber, LabelRotation, LabelSignedPrekey,
		LabelKEMPrekey, LabelHandshakeTranscript, LabelHandshakeKDF,
		LabelRatchetRoot, LabelRatchetPQ, LabelChainMessageKey, LabelChainNext,
		LabelMessageKeys, LabelMailboxToken, LabelMailboxSeal,
		LabelFirstContactToken, LabelFirstContactSeal, LabelConversationSecret,
		LabelPoW, LabelInviteChecksum, LabelInviteSignature,
		LabelSafetyNumberEmoji, LabelEnvelope, LabelCoverToken,
	}
}
