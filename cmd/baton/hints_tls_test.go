package main

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TLS mismatches between the client and an agent name the flag or the
// scheme that fixes them, in one line.
func TestTLSErrorsSayWhatToDo(t *testing.T) {
	leader := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"n1","http_addr":"127.0.0.1:7070"}`))
	})
	secure := httptest.NewUnstartedServer(leader)
	secure.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the cases fail on purpose
	secure.StartTLS()
	defer secure.Close()
	plain := httptest.NewServer(leader)
	defer plain.Close()
	host := strings.TrimPrefix(secure.URL, "https://")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw}), 0o600))

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"the CA given", []string{"--addr", host, "--ca-cert", ca}, 0, ""},
		{"plain HTTP to HTTPS", []string{"--addr", host}, 1, "serves HTTPS, and this client spoke plain HTTP: pass --ca-cert FILE (or BATON_CACERT), or give the address as https://" + host},
		{"https without the CA", []string{"--addr", secure.URL}, 1, "signed by an authority this client does not know: pass --ca-cert FILE"},
		{"HTTPS to plain HTTP", []string{"--addr", strings.TrimPrefix(plain.URL, "http://"), "--ca-cert", ca}, 1, "serves plain HTTP, and this client spoke HTTPS"},
		{"an unreadable CA file", []string{"--addr", host, "--ca-cert", ca + ".absent"}, 1, "--ca-cert " + ca + ".absent: CA certificate: open"},
		{"a client certificate without its key", []string{"--addr", host, "--ca-cert", ca, "--client-cert", ca}, 2, "--client-cert and --client-key go together"},
		{"a client certificate without the CA", []string{"--addr", host, "--client-cert", ca, "--client-key", ca}, 2, "need --ca-cert"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("BATON_CACERT", "")
			code, _, errOut := runBaton(t, append([]string{"leader"}, tc.args...)...)
			require.Equal(t, tc.code, code, errOut)
			require.Contains(t, errOut, tc.want)
			if tc.code != 0 {
				require.Equal(t, 1, countLines(errOut), errOut)
			}
		})
	}
}
