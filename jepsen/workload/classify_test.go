package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// A write's end is recorded by what the agent said of it: no leader means
// nothing was applied (fail), an unknown outcome that it may have been
// (info), whatever the status they share.
func TestAPIWritesAreClassifiedByTheirErrorCode(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   api.ErrorCode
		want   history.Type
	}{
		{503, api.CodeNoLeader, history.Fail},
		{503, api.CodeUnknownOutcome, history.Info},
		{409, api.CodeConflict, history.Fail},
		{409, api.CodeStale, history.Fail},
		{404, api.CodeNotFound, history.Fail},
		{400, api.CodeInvalid, history.Fail},
		{500, api.CodeInternal, history.Info},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: string(tc.code) + ": detail", Code: tc.code})
		}))
		_, err := api.NewClient(srv.URL, "").StartUpgrade(context.Background(), api.StartRequest{TargetVersion: "2.0.0"})
		srv.Close()
		op := history.Op{Kind: history.KindStart}
		require.Equal(t, tc.want, classify(&op, err), tc.code)
		require.Equal(t, tc.status, op.Status)
		require.Equal(t, tc.code, op.Code)

		read := history.Op{Kind: history.KindRead}
		require.Equal(t, history.Fail, classify(&read, err), "a read that got %s simply failed", tc.code)
	}
}

func TestWritesWithoutAnAnswer(t *testing.T) {
	op := history.Op{Kind: history.KindPause}
	require.Equal(t, history.OK, classify(&op, nil))
	unreachable := fmt.Errorf("agent at 10.0.0.2:7070: %w: dial tcp: connection refused", api.ErrUnreachable)
	require.Equal(t, history.Fail, classify(&op, unreachable), "a request that never left changed nothing")
	timedOut := fmt.Errorf("agent at 10.0.0.2:7070: %w", context.DeadlineExceeded)
	require.Equal(t, history.Info, classify(&op, timedOut))
	require.Equal(t, history.Info, classify(&op, errors.New("connection reset by peer")))
}

// The CLI prints the agent's message; its leading sentinel text carries the
// same meaning as the API's code.
func TestCLIMessagesAreReadForTheirMeaning(t *testing.T) {
	for stderr, want := range map[string]struct {
		code     api.ErrorCode
		definite bool
	}{
		"baton: outcome unknown: leadership was lost while committing: leadership lost while committing log\n":    {api.CodeUnknownOutcome, false},
		"baton: outcome unknown: forwarded to leader at n1, no answer: EOF\n":                                     {api.CodeUnknownOutcome, false},
		"baton: no leader: no leader elected after 5s (is a quorum of voters up?)\n":                              {api.CodeNoLeader, true},
		"baton: apply txn.pause: txn.pause: conflict: transaction t-1 is paused, not running\n":                   {api.CodeConflict, true},
		"baton: apply step.complete: step.complete: stale: attempt 1 is not current\n":                            {api.CodeStale, true},
		"baton: not found: no transaction is active\n":                                                            {api.CodeNotFound, true},
		"baton: invalid: version \"x\": want a version such as 2.0.0\n":                                           {api.CodeInvalid, true},
		"baton: agent at 10.0.0.2:7070: agent unreachable: dial tcp 10.0.0.2:7070: connect: connection refused\n": {"", true},
		"baton: agent at 10.0.0.2:7070: Post \"http://10.0.0.2:7070/v1/upgrades\": context deadline exceeded\n":   {"", false},
	} {
		code, definite := cliMeaning(stderr)
		require.Equal(t, want.code, code, stderr)
		require.Equal(t, want.definite, definite, stderr)
	}
}
