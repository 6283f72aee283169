package api

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A bare HOST:PORT means HTTPS only for a client with a TLS configuration;
// an explicit scheme is kept either way.
func TestAddressSchemes(t *testing.T) {
	conf := &tls.Config{}
	cases := []struct {
		addr         string
		conf         *tls.Config
		scheme, host string
	}{
		{"127.0.0.1:7070", nil, "http", "127.0.0.1:7070"},
		{"127.0.0.1:7070", conf, "https", "127.0.0.1:7070"},
		{"https://a.example:7070", nil, "https", "a.example:7070"},
		{"http://a.example:7070", conf, "http", "a.example:7070"},
		{"https://a.example:7070/", conf, "https", "a.example:7070"},
	}
	for _, tc := range cases {
		c := NewClientTLS(tc.addr, "", tc.conf)
		require.Equal(t, tc.scheme, c.scheme, tc.addr)
		require.Equal(t, tc.host, c.addr, tc.addr)
	}
	// Clients of one configuration share one transport.
	require.Same(t, NewClientTLS("a:1", "", conf).http.Transport, NewClientTLS("b:2", "", conf).http.Transport)
}

func TestClientTLSRefusesWhatItCannotUse(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	require.NoError(t, os.WriteFile(empty, []byte("nothing\n"), 0o600))
	for _, tc := range []struct{ ca, cert, key, want string }{
		{"", "", "", "a CA certificate file is required"},
		{filepath.Join(dir, "absent.pem"), "", "", "no such file"},
		{empty, "", "", "no PEM certificate"},
		{empty, "c.pem", "", "both its certificate and its key"},
	} {
		_, err := ClientTLS(tc.ca, tc.cert, tc.key)
		require.ErrorContains(t, err, tc.want)
	}
}
