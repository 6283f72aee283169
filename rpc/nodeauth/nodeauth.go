package nodeauth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// Header carries a node's signature: "id=ID, t=UNIX, sig=BASE64URL".
const Header = "X-Baton-Node"

// KeyFile is the key's file name in the agent's data dir.
const KeyFile = "node.key"

// MaxSkew is how far a signature's time may be from the verifier's clock.
// It bounds both the clocks' disagreement and how long a captured request
// can be replayed (AWS's request signatures use the same window).
const MaxSkew = 15 * time.Minute

// keyPrefix marks the encoding of a public key as the catalogue holds it.
const keyPrefix = "ed25519:"

// Errors a verifier branches on.
var (
	// ErrMalformed: the header is not a signature at all.
	ErrMalformed = errors.New("malformed node signature")
	// ErrBadSignature: the signature does not verify with the key given.
	ErrBadSignature = errors.New("node signature does not verify")
	// ErrExpired: the signature's time is over MaxSkew from the clock.
	ErrExpired = errors.New("node signature outside the allowed clock skew")
)

// Key is a node's private key.
type Key struct{ priv ed25519.PrivateKey }

// Public returns the key's public half as the catalogue records it:
// "ed25519:" and the standard base64 of the 32 bytes.
func (k Key) Public() string {
	return keyPrefix + base64.StdEncoding.EncodeToString(k.priv.Public().(ed25519.PublicKey))
}

// ParsePublic decodes a public key as Public writes it.
func ParsePublic(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(s, keyPrefix)
	if !ok {
		return nil, fmt.Errorf("node key %.80q: want %s and the base64 of 32 bytes", s, keyPrefix)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("node key %.80q: want %s and the base64 of 32 bytes", s, keyPrefix)
	}
	return ed25519.PublicKey(raw), nil
}

// ValidPublic reports whether s is a public key as Public writes it.
func ValidPublic(s string) bool {
	_, err := ParsePublic(s)
	return err == nil
}

// LoadOrCreate reads the key at path, or creates one there (mode 0600)
// when none exists. created says which.
func LoadOrCreate(path string) (k Key, created bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err = create(path)
		return k, err == nil, err
	}
	if err != nil {
		return Key{}, false, fmt.Errorf("read node key: %w", err)
	}
	k, err = parsePrivate(raw)
	if err != nil {
		return Key{}, false, fmt.Errorf("node key %s: %w (a damaged key: move it away and remove this member before it joins again; docs/security.md)", path, err)
	}
	return k, false, nil
}

func create(path string) (Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("generate node key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, fmt.Errorf("encode node key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Key{}, fmt.Errorf("create node key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return Key{}, fmt.Errorf("write node key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return Key{}, fmt.Errorf("write node key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return Key{}, fmt.Errorf("write node key %s: %w", path, err)
	}
	return Key{priv: priv}, nil
}

func parsePrivate(raw []byte) (Key, error) {
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		return Key{}, errors.New("not a PEM private key")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Key{}, err
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return Key{}, errors.New("not an Ed25519 key")
	}
	return Key{priv: priv}, nil
}

// message is what a signature covers. The host is left out, so a request
// forwarded to the leader keeps its signature.
func message(id string, t int64, method, requestURI string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte("baton-node-v1\n" + id + "\n" + strconv.FormatInt(t, 10) + "\n" + method + "\n" +
		requestURI + "\n" + hex.EncodeToString(sum[:]))
}

// Sign returns the header value that signs a request of member id.
func (k Key) Sign(id string, now time.Time, method, requestURI string, body []byte) string {
	t := now.Unix()
	sig := ed25519.Sign(k.priv, message(id, t, method, requestURI, body))
	return "id=" + id + ", t=" + strconv.FormatInt(t, 10) + ", sig=" + base64.RawURLEncoding.EncodeToString(sig)
}

// Signature is a parsed header.
type Signature struct {
	ID  string
	T   int64
	Sig []byte
}

// Parse reads a header value Sign wrote.
func Parse(v string) (Signature, error) {
	var s Signature
	seen := 0
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return s, ErrMalformed
		}
		var err error
		switch k {
		case "id":
			s.ID = val
		case "t":
			s.T, err = strconv.ParseInt(val, 10, 64)
		case "sig":
			s.Sig, err = base64.RawURLEncoding.DecodeString(val)
		default:
			return s, ErrMalformed
		}
		if err != nil {
			return s, ErrMalformed
		}
		seen++
	}
	if seen != 3 || s.ID == "" || len(s.Sig) != ed25519.SignatureSize {
		return s, ErrMalformed
	}
	return s, nil
}

// Verify checks s against the request with the member's public key.
func (s Signature) Verify(pub ed25519.PublicKey, now time.Time, method, requestURI string, body []byte) error {
	if d := now.Sub(time.Unix(s.T, 0)); d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("%w: signed at %s, %s from this agent's clock (at most %s)", ErrExpired,
			time.Unix(s.T, 0).UTC().Format(time.RFC3339), d.Round(time.Second), MaxSkew)
	}
	if !ed25519.Verify(pub, message(s.ID, s.T, method, requestURI, body), s.Sig) {
		return ErrBadSignature
	}
	return nil
}
