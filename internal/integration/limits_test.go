package integration

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// The inputs of issue 14's probe, against a real cluster with a token:
// each is refused with a clear error naming the field and the limit, and
// neither the catalogue nor the transactions change.
func TestOversizedInputsAreRefusedAndChangeNothing(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	follower := c.Agent("n1")
	if leaderSeenBy(follower) == "n1" {
		follower = c.Agent("n2")
	}
	before := catalogue(waitStatus(t, follower, api.MemberAlive))
	txnsBefore, err := follower.Client().Upgrades(context.Background())
	require.NoError(t, err)
	base := "http://" + follower.HTTPAddr
	bigLabel := `{"id":"n9","raft_addr":"127.0.0.1:1","http_addr":"127.0.0.1:2","version":"1.0.0",` +
		`"protocol":{"min":1,"max":3},"labels":{"rack":"` + strings.Repeat("x", 900<<10) + `"}}`
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     api.ErrorCode
		msg                      string
	}{
		{"200 KB version", "POST", "/v1/upgrades", `{"target_version":"2.0.0-` + strings.Repeat("a", 200<<10) + `"}`,
			400, api.CodeInvalid, "version of 204806 bytes: want at most 128"},
		{"step_timeout of 99999h", "POST", "/v1/upgrades", `{"target_version":"2.0.0","step_timeout":"99999h"}`,
			400, api.CodeInvalid, `step-timeout "99999h": want at most 168h0m0s (7 days)`},
		{"900 KB label", "POST", "/v1/members", bigLabel, 400, api.CodeInvalid, `label "rack": value of 921600 bytes: want at most 256`},
		{"2 MB body", "POST", "/v1/members", `{"id":"` + strings.Repeat("a", 2<<20) + `"}`,
			413, api.CodeTooLarge, "over the limit of 1048576 bytes"},
		{"file: artifact", "POST", "/v1/upgrades",
			`{"target_version":"2.0.0","artifact_url":"file:///etc/shadow","artifact_sha256":"` + strings.Repeat("0", 64) + `"}`,
			400, api.CodeInvalid, `scheme "file" is not allowed`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, msg, code := call(t, tc.method, base+tc.path, c.Token, tc.body)
			require.Equal(t, tc.status, status, msg)
			require.Equal(t, tc.code, code, msg)
			require.Contains(t, msg, tc.msg)
			require.Less(t, len(msg), 400, "the error does not echo the value")
		})
	}
	require.Equal(t, before, catalogue(membersJSON(t, follower)), "the catalogue must not change")
	txnsAfter, err := follower.Client().Upgrades(context.Background())
	require.NoError(t, err)
	require.Equal(t, txnsBefore, txnsAfter, "no transaction was started")
	require.Empty(t, installs(t, hooks))
}

// The diagnostic, an internal route, needs the token (the agent scope) on
// an agent that has one, whether or not it runs the health hook; the
// leader's own probes (which send it) still work.
func TestDiagnosticHealthNeedsTheTokenOnARealAgent(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.Token = "s3cret"
	c.RaftMultiplier = 0.3
	c.Start(1)
	base := "http://" + c.Agent("n1").HTTPAddr
	status, msg, code := call(t, "GET", base+"/v1/internal/diagnostic", "", "")
	require.Equal(t, 401, status, msg)
	require.Equal(t, api.CodeUnauthorized, code)
	status, msg, _ = call(t, "GET", base+"/v1/internal/diagnostic?health=false", "", "")
	require.Equal(t, 401, status, msg)
	d, err := c.Agent("n1").Client().Diagnostic(context.Background(), true)
	require.NoError(t, err)
	require.Equal(t, "n1", d.ID)
}

// Idle flood against a real agent: 200 connections from one address that
// send nothing. Past --http-max-conns-per-client each is answered 429 and
// closed; the agent keeps serving other clients, and Raft keeps working (a
// leadership transfer, which needs Raft's own connections, succeeds).
func TestIdleConnectionFloodLeavesTheAgentAndRaftServing(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.AgentArgs = []string{"--http-max-conns-per-client", "20", "--http-max-conns", "100"}
	c.Start(3)
	leader := c.Agent(leaderSeenBy(c.Agent("n1")))
	refused := 0
	for range 200 {
		conn, err := net.DialTimeout("tcp", leader.HTTPAddr, 5*time.Second)
		require.NoError(t, err)
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if b, _ := io.ReadAll(conn); strings.Contains(string(b), "429 Too Many Requests") {
			refused++
		}
	}
	require.GreaterOrEqual(t, refused, 180-20, "connections past the per-client limit are refused at once")

	other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	resp, err := other.Get("http://" + leader.HTTPAddr + "/v1/health")
	require.NoError(t, err, "another client is served during the flood")
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	to, err := c.Agent(otherThan(leader.ID)).Client().TransferLeadership(ctx, "")
	require.NoError(t, err, "Raft still works: leadership moves")
	require.NotEqual(t, leader.ID, to)
}

func otherThan(id string) string {
	if id == "n1" {
		return "n2"
	}
	return "n1"
}
