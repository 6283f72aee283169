package acl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	s1 = "0123456789abcdef-one"
	s2 = "0123456789abcdef-two"
)

func TestParseJSONAndHCLAlike(t *testing.T) {
	jsonSrc := `{"anonymous": "none", "tokens": [
		{"name": "ops", "secret": "` + s1 + `", "scope": "operator"},
		{"name": "agents", "secret": "` + s2 + `", "scope": "agent"}]}`
	hclSrc := `anonymous = "none"
tokens {
  name   = "ops"
  secret = "` + s1 + `"
  scope  = "operator"
}
tokens {
  name   = "agents"
  secret = "` + s2 + `"
  scope  = "agent"
}
`
	for _, c := range []struct{ path, src string }{{"acl.json", jsonSrc}, {"acl.hcl", hclSrc}} {
		p, err := Parse(c.path, []byte(c.src))
		require.NoError(t, err, c.path)
		require.Equal(t, None, p.Anonymous)
		tok, ok := p.Lookup(s1)
		require.True(t, ok)
		require.Equal(t, "ops", tok.Name)
		require.Equal(t, Operator, tok.Scope)
		tok, ok = p.Lookup(s2)
		require.True(t, ok)
		require.Equal(t, Agent, tok.Scope)
		_, ok = p.Lookup(s1[:len(s1)-1])
		require.False(t, ok, "a prefix of a secret is no secret")
		_, ok = p.Lookup("")
		require.False(t, ok)
		require.Len(t, p.Tokens(), 2)
	}
}

func TestAnonymousDefaultsToRead(t *testing.T) {
	p, err := Parse("acl.json", []byte(`{"tokens": []}`))
	require.NoError(t, err)
	require.Equal(t, Read, p.Anonymous)
}

// Every refusal names the entry and what is wrong with it, and never the
// secret.
func TestBadFilesAreRefusedNamingTheEntry(t *testing.T) {
	tok := func(name, secret, scope string) string {
		return `{"name": "` + name + `", "secret": "` + secret + `", "scope": "` + scope + `"}`
	}
	file := func(tokens ...string) string { return `{"tokens": [` + strings.Join(tokens, ",") + `]}` }
	cases := []struct {
		name, src, want string
	}{
		{"unknown scope", file(tok("ops", s1, "admin")), `token 1 ("ops"): scope "admin"`},
		{"duplicate name", file(tok("ops", s1, "read"), tok("ops", s2, "agent")), `token 2 ("ops"): a second token of that name`},
		{"duplicate secret", file(tok("ops", s1, "read"), tok("ci", s1, "operator")), `token 2 ("ci"): the same secret as token "ops"`},
		{"empty secret", file(tok("ops", "", "read")), `token 1 ("ops"): empty secret`},
		{"short secret", file(tok("ops", "short-secret", "read")), `token 1 ("ops"): the secret is 12 bytes, want at least 16`},
		{"empty name", file(tok("", s1, "read")), `token 1: empty name`},
		{"bad name", file(tok("a b", s1, "read")), `token 1: name "a b"`},
		{"secret with a space", file(tok("ops", "0123456789 abcdefgh", "read")), `token 1 ("ops"): the secret holds a space`},
		{"bad anonymous", `{"anonymous": "write"}`, `anonymous = "write": want "read" or "none"`},
		{"unknown key", `{"tokens": [], "admins": []}`, `"admins"`},
		{"missing scope", `{"tokens": [{"name": "ops", "secret": "` + s1 + `"}]}`, `scope`},
	}
	for _, c := range cases {
		_, err := Parse("acl.json", []byte(c.src))
		require.Error(t, err, c.name)
		require.True(t, errors.Is(err, ErrInvalid), "%s: %v", c.name, err)
		require.Contains(t, err.Error(), c.want, c.name)
		require.Contains(t, err.Error(), "acl.json", c.name)
		for _, s := range []string{s1, s2, "short-secret", "0123456789 abcdefgh"} {
			require.NotContains(t, err.Error(), s, "%s: the error quotes a secret", c.name)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
	path := filepath.Join(dir, "acl.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`{}`), 0o600))
	_, err = Load(path)
	require.ErrorContains(t, err, `unsupported extension ".yaml"`)
}

func TestGrants(t *testing.T) {
	cases := []struct {
		held, need Scope
		want       bool
	}{
		{Read, Read, true}, {Read, Operator, false}, {Read, Agent, false},
		{Operator, Read, true}, {Operator, Operator, true}, {Operator, Agent, false},
		{Agent, Read, true}, {Agent, Agent, true}, {Agent, Operator, false},
		{None, Read, false}, {"", Read, false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, c.held.Grants(c.need), "%q grants %q", c.held, c.need)
	}
}

// A gateway's token reads and keeps its own registry entry, and nothing of
// an operator's or an agent's.
func TestGatewayScope(t *testing.T) {
	p, err := Parse("acl.json", []byte(`{"tokens": [{"name": "gw", "secret": "`+s1+`", "scope": "gateway"}]}`))
	require.NoError(t, err)
	tok, ok := p.Lookup(s1)
	require.True(t, ok)
	require.Equal(t, Gateway, tok.Scope)
	require.True(t, tok.Scope.Grants(Read))
	require.True(t, tok.Scope.Grants(Gateway))
	require.False(t, tok.Scope.Grants(Operator))
	require.False(t, tok.Scope.Grants(Agent))
	require.False(t, Operator.Grants(Gateway), "an operator's token is no gateway's")
}
