package tls

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// On an agent with TLS the API speaks only HTTPS: plain HTTP is refused
// and the client says so; the CLI works with --ca-cert (or BATON_CACERT),
// with a client certificate too, and without the CA it fails with a hint
// to pass it.
func TestTheAPIOfATLSAgentIsHTTPSOnly(t *testing.T) {
	c, _ := tlsCluster(t, 1)
	a := c.Agents[0]

	resp, err := http.Get("http://" + a.HTTPAddr + "/v1/members")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.NotContains(t, string(body), "n1", "nothing of the catalogue over plain HTTP")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err = api.NewClient(a.HTTPAddr, "").Members(ctx, api.Wait{})
	require.ErrorIs(t, err, api.ErrAgentSpeaksHTTPS)
	require.False(t, api.Indeterminate(err), "nothing reached the API")
	_, _, err = api.NewClient("https://"+a.HTTPAddr, "").Members(ctx, api.Wait{})
	require.ErrorIs(t, err, api.ErrUnknownAuthority)

	cli := func(env []string, args ...string) procs.CLIResult {
		return procs.RunCLI(t, batonBin, append([]string{"BATON_CACERT=", "BATON_TOKEN="}, env...), args...)
	}
	addr := "BATON_ADDR=" + a.HTTPAddr

	t.Run("with --ca-cert", func(t *testing.T) {
		res := cli(nil, "members", "--addr", a.HTTPAddr, "--ca-cert", c.CA.CertFile, "--json")
		require.Zero(t, res.Code, res.Stderr)
		var ms []api.Member
		require.NoError(t, json.Unmarshal([]byte(res.Stdout), &ms))
		require.Len(t, ms, 1)
		res = cli([]string{addr, "BATON_CACERT=" + c.CA.CertFile}, "members")
		require.Zero(t, res.Code, res.Stderr)
		res = cli(nil, "members", "--addr", "https://"+a.HTTPAddr, "--ca-cert", c.CA.CertFile)
		require.Zero(t, res.Code, res.Stderr)
	})

	t.Run("with a client certificate", func(t *testing.T) {
		leaf, err := c.CA.Issue("ops", nil, procs.CertOptions{})
		require.NoError(t, err)
		res := cli([]string{addr, "BATON_CACERT=" + c.CA.CertFile, "BATON_CLIENT_CERT=" + leaf.CertFile, "BATON_CLIENT_KEY=" + leaf.KeyFile}, "members")
		require.Zero(t, res.Code, res.Stderr)
		res = cli([]string{addr, "BATON_CACERT=" + c.CA.CertFile, "BATON_CLIENT_CERT=" + leaf.CertFile}, "members")
		require.Equal(t, 2, res.Code, "a certificate without its key is a usage error: %s", res.Stderr)
	})

	t.Run("a client certificate of another CA is refused", func(t *testing.T) {
		other, err := procs.NewCA(filepath.Join(t.TempDir(), "other"), "another CA")
		require.NoError(t, err)
		leaf, err := other.Issue("ops", nil, procs.CertOptions{})
		require.NoError(t, err)
		res := cli([]string{addr}, "members", "--ca-cert", c.CA.CertFile, "--client-cert", leaf.CertFile, "--client-key", leaf.KeyFile)
		require.Equal(t, 1, res.Code)
		require.Contains(t, res.Stderr, "refused the TLS handshake")
	})

	t.Run("without the CA, a hint", func(t *testing.T) {
		res := cli([]string{addr}, "members")
		require.Equal(t, 1, res.Code)
		require.Contains(t, res.Stderr, "serves HTTPS, and this client spoke plain HTTP: pass --ca-cert")
		res = cli(nil, "members", "--addr", "https://"+a.HTTPAddr)
		require.Equal(t, 1, res.Code)
		require.Contains(t, res.Stderr, "signed by an authority this client does not know: pass --ca-cert")
		require.Equal(t, 1, strings.Count(strings.TrimSpace(res.Stderr), "\n")+1, "one line: %s", res.Stderr)
	})

	t.Run("with another CA", func(t *testing.T) {
		other, err := procs.NewCA(filepath.Join(t.TempDir(), "other"), "another CA")
		require.NoError(t, err)
		res := cli([]string{addr}, "members", "--ca-cert", other.CertFile)
		require.Equal(t, 1, res.Code)
		require.Contains(t, res.Stderr, "is not signed by the CA of --ca-cert")
	})
}

// A client with --ca-cert that meets an agent without TLS is told the
// agent speaks plain HTTP.
func TestAClientWithTLSMeetingAPlainAgentIsTold(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.Start(1)
	ca, err := procs.NewCA(filepath.Join(t.TempDir(), "ca"), "a CA")
	require.NoError(t, err)
	res := procs.RunCLI(t, batonBin, []string{"BATON_ADDR=" + c.Agents[0].HTTPAddr, "BATON_CACERT=" + ca.CertFile}, "members")
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "serves plain HTTP, and this client spoke HTTPS")
	res = procs.RunCLI(t, batonBin, []string{"BATON_CACERT=" + ca.CertFile}, "members", "--addr", "http://"+c.Agents[0].HTTPAddr)
	require.Zero(t, res.Code, "an explicit http:// speaks plain HTTP: %s", res.Stderr)
}
