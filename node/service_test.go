package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// serviceAgent starts a one-voter agent speaking protocol 3 whose role hook
// prints the file role, whose lag hook prints the file lag, and whose
// promote, demote and follow hooks write their environment to a file named
// after them, all in dir.
func serviceAgent(t *testing.T, dir string) *Agent {
	t.Helper()
	dump := func(name string) string { return "env | grep ^BATON_ | sort > " + filepath.Join(dir, name+".env") }
	a := serve(t, Config{ID: "n1", Bootstrap: true, BuildVersion: "1.0.0", Protocol: fsm.ProtocolRange{Min: 2, Max: 3},
		Hooks: config.Hooks{Install: "true", Version: "echo 1.0.0",
			Role: "cat " + filepath.Join(dir, "role"), Lag: "cat " + filepath.Join(dir, "lag"),
			Promote: dump("promote"), Demote: dump("demote"), Follow: dump("follow")}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = a.Register(ctx) }()
	procs.Eventually(t, 20*time.Second, func() error {
		if !a.IsLeader() || a.protocolVersion() != 3 {
			return errString("not leading at protocol 3 yet")
		}
		return nil
	})
	return a
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func TestServiceProbeRunsTheRoleAndLagHooks(t *testing.T) {
	dir := t.TempDir()
	a := serviceAgent(t, dir)
	ctx := context.Background()
	write(t, filepath.Join(dir, "role"), "primary\n")
	write(t, filepath.Join(dir, "lag"), " 7\n")

	p := a.ServiceProbe(ctx, false)
	require.Equal(t, []string{"role", "promote", "demote", "follow", "lag"}, p.Hooks)
	require.Equal(t, api.RolePrimary, p.Role)
	require.Nil(t, p.Lag, "the lag hook runs only when asked")

	p = a.ServiceProbe(ctx, true)
	require.NotNil(t, p.Lag)
	require.Equal(t, uint64(7), *p.Lag)

	write(t, filepath.Join(dir, "role"), "master\n")
	write(t, filepath.Join(dir, "lag"), "-1\n")
	p = a.ServiceProbe(ctx, true)
	require.Empty(t, p.Role)
	require.Contains(t, p.RoleError, `role hook printed "master", want primary or replica`)
	require.Nil(t, p.Lag)
	require.Contains(t, p.LagError, `lag hook printed "-1"`)

	require.NoError(t, os.Remove(filepath.Join(dir, "role")))
	p = a.ServiceProbe(ctx, false)
	require.Empty(t, p.Role)
	require.Contains(t, p.RoleError, "hook role exited 1", "a failing hook is an answer, not a role")
}

// TestServiceActionRunsOnlyForTheSwitchoverItsStateShows puts n1 (the
// primary) and a member n2 into a switch-over from n1 to n2, and checks
// that n1 runs demote for it with the variables CLI.md names, and refuses
// every action its own state does not call for.
func TestServiceActionRunsOnlyForTheSwitchoverItsStateShows(t *testing.T) {
	dir := t.TempDir()
	a := serviceAgent(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	apply := func(typ fsm.CommandType, body any) {
		t.Helper()
		_, err := a.Apply(ctx, typ, body)
		require.NoError(t, err, "%s", typ)
	}
	apply(fsm.CmdMemberJoin, fsm.MemberJoin{Member: fsm.Member{ID: "n2", RaftAddr: "127.0.0.1:1", HTTPAddr: "127.0.0.1:2",
		Version: "1.0.0", Voter: true, Protocol: fsm.ProtocolRange{Min: 2, Max: 3}, Labels: map[string]string{"zone": "b"}}})
	apply(fsm.CmdServiceRoles, fsm.ServiceRoles{Primary: "n1", Roles: map[string]string{"n1": fsm.RolePrimary, "n2": fsm.RoleReplica}})
	apply(fsm.CmdMemberService, fsm.MemberService{ID: "n2", ServiceAddr: "127.0.0.1:9002"})
	req := api.ServiceActionRequest{TxnID: "t-1", OldPrimary: "n1", NewPrimary: "n2", Phase: api.SwitchChosen}

	_, err := a.ServiceAction(ctx, api.HookDemote, req)
	require.ErrorIs(t, err, fsm.ErrStale, "no transaction yet")

	apply(fsm.CmdTxnStart, fsm.TxnStart{Txn: fsm.Txn{ID: "t-1", TargetVersion: "2.0.0", Strategy: "secondaries-first", MaxParallel: 1,
		OnFailure: fsm.OnFailureHalt, StepTimeout: fsm.Duration(time.Minute), ProgressDeadline: fsm.Duration(time.Hour),
		Steps: []fsm.Step{{Node: "n2", Batch: 0}, {Node: "n1", Batch: 1}}}})
	apply(fsm.CmdStepBegin, fsm.StepBegin{TxnID: "t-1", Node: "n2", Attempt: 1})
	apply(fsm.CmdStepComplete, fsm.StepComplete{TxnID: "t-1", Node: "n2", Attempt: 1, Version: "2.0.0"})
	_, err = a.ServiceAction(ctx, api.HookDemote, req)
	require.ErrorIs(t, err, fsm.ErrStale, "no switch-over yet")

	apply(fsm.CmdSwitchoverBegin, fsm.SwitchoverBegin{TxnID: "t-1", Node: "n1", Candidate: "n2", Diagnostic: "healthy"})
	var index uint64
	a.fsm.View(func(s *fsm.State) { index = s.Index })
	req.Index = index
	res, err := a.ServiceAction(ctx, api.HookDemote, req)
	require.NoError(t, err)
	require.True(t, res.Ran)
	require.Empty(t, res.Error)

	env, err := os.ReadFile(filepath.Join(dir, "demote.env"))
	require.NoError(t, err)
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	require.Equal(t, "n2", vars["BATON_NEW_PRIMARY"])
	require.Equal(t, "n1", vars["BATON_PRIMARY"])
	require.Equal(t, "t-1", vars["BATON_TXN_ID"])
	require.Equal(t, "3", vars["BATON_PROTOCOL_VERSION"])
	b, err := os.ReadFile(vars["BATON_MEMBERS_FILE"])
	require.NoError(t, err)
	var members []map[string]any
	require.NoError(t, json.Unmarshal(b, &members))
	require.Len(t, members, 2)
	require.Equal(t, map[string]any{"id": "n2", "http_addr": "127.0.0.1:2", "version": "2.0.0",
		"labels": map[string]any{"zone": "b"}, "role": "replica", "service_addr": "127.0.0.1:9002", "status": "unknown"}, members[1])
	require.Equal(t, "primary", members[0]["role"])

	for _, tc := range []struct {
		name   string
		action string
		req    api.ServiceActionRequest
		want   error
	}{
		{"promote runs on the candidate only", api.HookPromote, with(req, func(r *api.ServiceActionRequest) { r.Phase = api.SwitchDemoted }), fsm.ErrInvalid},
		{"follow never on the new primary", api.HookFollow, with(req, func(r *api.ServiceActionRequest) { r.OldPrimary, r.NewPrimary = "n2", "n1" }), fsm.ErrInvalid},
		{"demote only in its phase", api.HookDemote, with(req, func(r *api.ServiceActionRequest) { r.Phase = api.SwitchDemoted }), fsm.ErrStale},
		{"follow only once committed", api.HookFollow, with(req, func(r *api.ServiceActionRequest) {
			r.OldPrimary, r.NewPrimary, r.Phase = "n2", "n3", api.SwitchCommitted
		}), fsm.ErrStale},
		{"not for a state this node has not reached", api.HookDemote, with(req, func(r *api.ServiceActionRequest) { r.Index = index + 1000 }), fsm.ErrStale},
		{"an unknown action", "reboot", req, fsm.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.ServiceAction(ctx, tc.action, tc.req)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func with(r api.ServiceActionRequest, edit func(*api.ServiceActionRequest)) api.ServiceActionRequest {
	edit(&r)
	return r
}
