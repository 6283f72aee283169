package acl

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsimple"
)

// Scope is what a caller may do. The scopes are not ordered: operator and
// agent each include read, and neither includes the other.
type Scope string

// The scopes.
const (
	// Read allows every read of the cluster's state.
	Read Scope = "read"
	// Operator allows read and every operator write: start, pause, resume,
	// retry, abort, cancel, leader transfer, members leave and remove.
	Operator Scope = "operator"
	// Agent allows what agents need of each other: join, the member
	// reports, the /v1/internal/ routes, and read.
	Agent Scope = "agent"
	// Gateway allows what a gateway needs (docs/gateway.md): read, and its
	// own entry in the gateway registry (register, report what it has
	// seen, leave).
	Gateway Scope = "gateway"
	// None, only for Anonymous, closes even reads to callers without a
	// token.
	None Scope = "none"
)

// Grants reports whether a caller holding s may use a route that needs
// need. Read is granted by every scope but None.
func (s Scope) Grants(need Scope) bool {
	switch {
	case s == None || s == "":
		return false
	case s == need:
		return true
	default:
		return need == Read
	}
}

// MinSecretLen is the shortest secret a token may have. A secret is a
// bearer credential checked on every request without a rate limit, so it
// must be long enough not to be guessed: 16 bytes of base64 or hex from a
// random source (openssl rand -hex 16 gives 32).
const MinSecretLen = 16

// MaxNameLen bounds a token's name, which the audit log prints.
const MaxNameLen = 64

// Token is one entry of the file: a named secret that grants a scope.
type Token struct {
	// Name names the token in the audit log; never secret.
	Name string
	// Scope is Read, Operator, Agent or Gateway.
	Scope Scope
	// digest is the SHA-256 of the secret: lookups compare digests, so the
	// comparison takes the same time whatever the secret's length.
	digest [sha256.Size]byte
}

// Policy is a loaded ACL file.
type Policy struct {
	// Anonymous is the scope of a caller without a token: Read or None.
	Anonymous Scope
	tokens    []Token
}

// Tokens returns the policy's tokens, in file order, without secrets.
func (p *Policy) Tokens() []Token { return slices.Clone(p.tokens) }

// Lookup returns the token whose secret is secret. Every token is compared,
// in constant time, whichever matches.
func (p *Policy) Lookup(secret string) (Token, bool) {
	d := sha256.Sum256([]byte(secret))
	var (
		found Token
		ok    bool
	)
	for _, t := range p.tokens {
		if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
			found, ok = t, true
		}
	}
	return found, ok
}

// fileTokens is the on-disk shape: {"anonymous": "...", "tokens": [...]}
// in JSON, `anonymous = "..."` and `tokens { ... }` blocks in HCL.
type filePolicy struct {
	Anonymous string      `hcl:"anonymous,optional"`
	Tokens    []fileToken `hcl:"tokens,block"`
}

type fileToken struct {
	Name   string `hcl:"name"`
	Secret string `hcl:"secret"`
	Scope  string `hcl:"scope"`
}

// ErrInvalid wraps every refusal of a file's content.
var ErrInvalid = errors.New("invalid ACL file")

// Load reads and validates the ACL file at path (.json or .hcl).
func Load(path string) (*Policy, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load ACL file: %w", err)
	}
	return Parse(path, src)
}

// Parse decodes and validates an ACL file's content; path's extension
// picks the syntax. The error names the entry that is wrong (by name, or
// by position when the name is the problem) and never quotes a secret.
func Parse(path string, src []byte) (*Policy, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".json", ".hcl":
	default:
		return nil, fmt.Errorf("load ACL file %s: unsupported extension %q (want .json or .hcl)", path, ext)
	}
	var raw filePolicy
	if err := hclsimple.Decode(path, src, nil, &raw); err != nil {
		return nil, fmt.Errorf("load ACL file %s: %w: %s", path, ErrInvalid, summarize(err))
	}
	p, err := raw.validate()
	if err != nil {
		return nil, fmt.Errorf("load ACL file %s: %w", path, err)
	}
	return p, nil
}

func (raw filePolicy) validate() (*Policy, error) {
	p := &Policy{Anonymous: Scope(raw.Anonymous)}
	switch p.Anonymous {
	case "":
		p.Anonymous = Read
	case Read, None:
	default:
		return nil, fmt.Errorf("%w: anonymous = %q: want \"read\" or \"none\"", ErrInvalid, raw.Anonymous)
	}
	names := map[string]bool{}
	digests := map[[sha256.Size]byte]string{}
	for i, ft := range raw.Tokens {
		what := fmt.Sprintf("token %d (%q)", i+1, ft.Name)
		switch {
		case ft.Name == "":
			return nil, fmt.Errorf("%w: token %d: empty name", ErrInvalid, i+1)
		case len(ft.Name) > MaxNameLen || strings.ContainsFunc(ft.Name, badNameRune):
			return nil, fmt.Errorf("%w: token %d: name %.64q: want at most %d letters, digits, '.', '_' or '-'", ErrInvalid, i+1, ft.Name, MaxNameLen)
		case names[ft.Name]:
			return nil, fmt.Errorf("%w: %s: a second token of that name", ErrInvalid, what)
		case ft.Secret == "":
			return nil, fmt.Errorf("%w: %s: empty secret", ErrInvalid, what)
		case len(ft.Secret) < MinSecretLen:
			return nil, fmt.Errorf("%w: %s: the secret is %d bytes, want at least %d (openssl rand -hex 16)", ErrInvalid, what, len(ft.Secret), MinSecretLen)
		case strings.ContainsFunc(ft.Secret, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return nil, fmt.Errorf("%w: %s: the secret holds a space or control character, which an Authorization header cannot carry", ErrInvalid, what)
		}
		switch Scope(ft.Scope) {
		case Read, Operator, Agent, Gateway:
		default:
			return nil, fmt.Errorf("%w: %s: scope %.32q: want \"read\", \"operator\", \"agent\" or \"gateway\"", ErrInvalid, what, ft.Scope)
		}
		d := sha256.Sum256([]byte(ft.Secret))
		if other, dup := digests[d]; dup {
			return nil, fmt.Errorf("%w: %s: the same secret as token %q; every token needs its own", ErrInvalid, what, other)
		}
		names[ft.Name], digests[d] = true, ft.Name
		p.tokens = append(p.tokens, Token{Name: ft.Name, Scope: Scope(ft.Scope), digest: d})
	}
	return p, nil
}

func badNameRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
}

// summarize turns HCL diagnostics into one line without quoting the source
// (which holds secrets): the summary, the detail and the position.
func summarize(err error) string {
	var diags hcl.Diagnostics
	if !errors.As(err, &diags) {
		return err.Error()
	}
	var parts []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Subject != nil {
			msg = fmt.Sprintf("line %d: %s", d.Subject.Start.Line, msg)
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, "; ")
}
