package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
	"github.com/stretchr/testify/require"
)

// call sends a raw request and returns the status, the error message and
// the error code.
func call(t *testing.T, method, url, token, body string) (int, string, api.ErrorCode) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var e api.ErrorBody
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error, e.Code
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.Token = "s3cret"
	c.RaftMultiplier = 0.3
	c.Start(3)
	follower := c.Agent("n1")
	if leaderSeenBy(follower) == "n1" {
		follower = c.Agent("n2")
	}
	waitStatus(t, follower, api.MemberAlive)
	// Every agent registers its node key soon after it joins: wait for all
	// three, so that the catalogue holds still and the imposters below meet
	// the identity checks.
	procs.Eventually(t, 30*time.Second, func() error {
		for _, m := range membersJSON(t, follower) {
			if m.NodeKey == "" {
				return fmt.Errorf("%s has no node key on record yet", m.ID)
			}
		}
		return nil
	})
	before := catalogue(membersJSON(t, follower))
	base := "http://" + follower.HTTPAddr

	taken := `{"id":"n2","raft_addr":"127.0.0.1:1","http_addr":"127.0.0.1:2","version":"1.0.0","protocol":{"min":1,"max":1}}`
	cases := []struct {
		name, method, path, token, body string
		status                          int
		msg                             string
	}{
		{"join with an id taken by another address", "POST", "/v1/members", c.Token, taken, 409, `member id "n2" is already taken by raft address`},
		{"join with a raft address taken by another id", "POST", "/v1/members", c.Token,
			`{"id":"n7","raft_addr":"` + c.Agent("n3").RaftAddr + `","http_addr":"127.0.0.1:2","version":"1.0.0","protocol":{"min":1,"max":1}}`,
			409, "is already used by member"},
		{"malformed JSON body", "POST", "/v1/members", c.Token, `{"id": "n9",`, 400, "malformed JSON body"},
		{"unknown field", "POST", "/v1/members", c.Token, `{"id":"n9","colour":"red"}`, 400, `unknown field "colour"`},
		{"empty body", "POST", "/v1/members", c.Token, ``, 400, "empty body"},
		{"bad member id", "POST", "/v1/members", c.Token,
			`{"id":"../n9","raft_addr":"127.0.0.1:1","http_addr":"127.0.0.1:2","version":"1.0.0","protocol":{"min":1,"max":1}}`, 400, `member id "../n9"`},
		{"unknown route", "GET", "/v1/nothing-here", "", ``, 404, "no route GET /v1/nothing-here"},
		{"write without the token", "POST", "/v1/members", "", taken, 401, "requires a token"},
		{"write with a wrong token", "POST", "/v1/members", "guess", taken, 403, "not valid"},
		{"leave without the token", "DELETE", "/v1/members/n3", "", ``, 401, "requires a token"},
		{"leave of an unknown member", "DELETE", "/v1/members/n9", c.Token, ``, 404, `member "n9"`},
		{"transfer to an unknown member", "POST", "/v1/leader/transfer", c.Token, `{"to":"n9"}`, 404, `"n9"`},
		{"long poll with a bad index", "GET", "/v1/members?index=abc", "", ``, 400, `index="abc"`},
		{"long poll with a bad wait", "GET", "/v1/members?index=1&wait=soon", "", ``, 400, `wait="soon"`},
	}
	// Each refusal carries its code, also when the follower forwarded the
	// write and the leader refused it.
	codes := map[int]api.ErrorCode{400: api.CodeInvalid, 401: api.CodeUnauthorized, 403: api.CodeForbidden,
		404: api.CodeNotFound, 409: api.CodeConflict}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, msg, code := call(t, tc.method, base+tc.path, tc.token, tc.body)
			require.Equal(t, tc.status, status, msg)
			require.Contains(t, msg, tc.msg)
			require.Equal(t, codes[tc.status], code, msg)
			require.Equal(t, before, catalogue(membersJSON(t, follower)), "the catalogue must not change")
		})
	}

	// The CLI: a wrong token is a failure (1) with the agent's message; a bad
	// flag is a usage error (2).
	res := procs.RunCLI(t, batonBin, []string{"BATON_ADDR=" + follower.HTTPAddr, "BATON_TOKEN=wrong"}, "leader", "transfer")
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "token is not valid")
	res = follower.CLI("members", "--frobnicate")
	require.Equal(t, 2, res.Code)
	res = follower.CLI("upgrayedd")
	require.Equal(t, 2, res.Code)
	require.Contains(t, res.Stderr, `unknown command "upgrayedd"`)

	// An agent that tries to join under a member's id exits 1 with a clear
	// error, and the catalogue does not change. Without the member's node
	// key its signature does not verify; with a copy of it (a cloned data
	// dir), its id is still taken by the member's Raft address.
	imposter := c.Add("n2")
	imposter.DataDir = t.TempDir()
	imposter.LogPath = imposter.DataDir + "/imposter.log"
	imposter.Start("--join", follower.HTTPAddr)
	code, err := imposter.WaitExit(60 * time.Second)
	require.NoError(t, err)
	require.Equal(t, 1, code)
	log, _ := os.ReadFile(imposter.LogPath)
	require.Contains(t, string(log), `node signature as "n2": node signature does not verify`)
	require.Equal(t, before, catalogue(membersJSON(t, follower)), "the catalogue must not change")

	clone := c.Add("n2")
	clone.DataDir = t.TempDir()
	clone.LogPath = clone.DataDir + "/clone.log"
	key, err := os.ReadFile(filepath.Join(c.Agent("n2").DataDir, nodeauth.KeyFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(clone.DataDir, nodeauth.KeyFile), key, 0o600))
	clone.Start("--join", follower.HTTPAddr)
	code, err = clone.WaitExit(60 * time.Second)
	require.NoError(t, err)
	require.Equal(t, 1, code)
	log, _ = os.ReadFile(clone.LogPath)
	require.Contains(t, string(log), `member id "n2" is already taken by raft address`)
	require.Equal(t, before, catalogue(membersJSON(t, follower)), "the catalogue must not change")

	// Long polling: a read with the current index waits for the next change.
	_, idx, err := follower.Client().Members(context.Background(), api.Wait{})
	require.NoError(t, err)
	start := time.Now()
	_, idx2, err := follower.Client().Members(context.Background(), api.Wait{Index: idx, Wait: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, idx, idx2, "nothing changed, so the index stays")
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "the read waited for a change")
}
