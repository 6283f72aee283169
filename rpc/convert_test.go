package rpc

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// The JSON below is what the API served before it had types of its own
// (the fsm records, embedded): the contract of CLI.md. A change to the
// state machine's records must not change it. Fields added since come
// after the old ones (status, status_since, last_seen; a step's waiting).

func TestMemberJSONKeepsItsShape(t *testing.T) {
	m := fsm.Member{ID: "n1", RaftAddr: "127.0.0.1:7071", HTTPAddr: "127.0.0.1:7070", Version: "1.0.0", Voter: true,
		Protocol: fsm.ProtocolRange{Min: 1, Max: 2}, Labels: map[string]string{"zone": "a"},
		Build: &fsm.BuildInfo{Version: "2.0.0", Protocol: fsm.ProtocolRange{Min: 1, Max: 2}, GoVersion: "go1.26"}}
	requireJSON(t, memberOut(m, true), `{"id":"n1","raft_addr":"127.0.0.1:7071","http_addr":"127.0.0.1:7070",`+
		`"version":"1.0.0","voter":true,"protocol":{"min":1,"max":2},"labels":{"zone":"a"},`+
		`"build":{"version":"2.0.0","protocol":{"min":1,"max":2},"go_version":"go1.26"},"leader":true,"status":"unknown"}`)
	requireJSON(t, memberOut(fsm.Member{ID: "n2"}, false),
		`{"id":"n2","raft_addr":"","http_addr":"","version":"","voter":false,"protocol":{"min":0,"max":0},"leader":false,"status":"unknown"}`)

	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	down := fsm.Member{ID: "n3", Liveness: &fsm.Liveness{Status: fsm.LivenessUnreachable, Since: at, LastSeen: at.Add(-5 * time.Second)}}
	requireJSON(t, memberOut(down, false),
		`{"id":"n3","raft_addr":"","http_addr":"","version":"","voter":false,"protocol":{"min":0,"max":0},"leader":false,`+
			`"status":"unreachable","status_since":"2026-03-01T12:00:00Z","last_seen":"2026-03-01T11:59:55Z"}`)
	up := fsm.Member{ID: "n3", Liveness: &fsm.Liveness{Status: fsm.LivenessAlive, Since: at}}
	requireJSON(t, memberOut(up, false),
		`{"id":"n3","raft_addr":"","http_addr":"","version":"","voter":false,"protocol":{"min":0,"max":0},"leader":false,`+
			`"status":"alive","status_since":"2026-03-01T12:00:00Z"}`)
	unknown := fsm.Member{ID: "n4", VersionError: "version hook failed: exited 4: no such file"}
	requireJSON(t, memberOut(unknown, false),
		`{"id":"n4","raft_addr":"","http_addr":"","version":"","voter":false,"protocol":{"min":0,"max":0},"leader":false,`+
			`"status":"unknown","version_error":"version hook failed: exited 4: no such file"}`)
}

func TestTxnJSONKeepsItsShape(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	txn := &fsm.Txn{ID: "t-1", State: fsm.TxnRunning, TargetVersion: "2.0.0", ArtifactURL: "https://x/a.tgz",
		ArtifactSHA256: "ab", Strategy: "by-id", MaxParallel: 2, OnFailure: "rollback",
		StepTimeout: fsm.Duration(5 * time.Minute), ProgressDeadline: fsm.Duration(90 * time.Second),
		AllowLeaderUpgrade: true, LeaderAtStart: "n1", Reason: "why", RollbackRequested: true, ProtocolVersion: 3,
		CreatedAt: at, UpdatedAt: at.Add(time.Second), LastProgressAt: at.Add(2 * time.Second), FinishedAt: at.Add(3 * time.Second),
		Steps: []fsm.Step{
			{Node: "n1", Batch: 0, State: fsm.StepDone, Attempt: 1, PriorVersion: "1.0.0", FromVersion: "1.0.0",
				ToVersion: "2.0.0", Rollback: true, StartedAt: at, FinishedAt: at.Add(time.Minute), Error: "e"},
			{Node: "n2", Batch: 1, State: fsm.StepPending}}}
	alive := &fsm.Liveness{Status: fsm.LivenessAlive, Since: at}
	st := &fsm.State{ProtocolVersion: 2, Members: map[string]fsm.Member{"n1": {ID: "n1", Liveness: alive}, "n2": {ID: "n2", Liveness: alive}}}
	requireJSON(t, txnOut(st, txn), `{"id":"t-1","state":"running","target_version":"2.0.0",`+
		`"artifact_url":"https://x/a.tgz","artifact_sha256":"ab","strategy":"by-id","max_parallel":2,`+
		`"on_failure":"rollback","step_timeout":"5m0s","progress_deadline":"1m30s","allow_leader_upgrade":true,`+
		`"leader_at_start":"n1","steps":[`+
		`{"node":"n1","batch":0,"state":"done","attempt":1,"prior_version":"1.0.0","from_version":"1.0.0",`+
		`"to_version":"2.0.0","rollback":true,"started_at":"2026-03-01T12:00:00Z","finished_at":"2026-03-01T12:01:00Z","error":"e"},`+
		`{"node":"n2","batch":1,"state":"pending","attempt":0,"prior_version":"","from_version":"","to_version":"","error":""}],`+
		`"reason":"why","rollback_requested":true,"created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:01Z",`+
		`"last_progress_at":"2026-03-01T12:00:02Z","finished_at":"2026-03-01T12:00:03Z","protocol_version":2}`)

	// A due step whose node the leader cannot reach says so; so does one
	// whose node left.
	st.Members["n2"] = fsm.Member{ID: "n2", Liveness: &fsm.Liveness{Status: fsm.LivenessUnreachable, Since: at, LastSeen: at.Add(-5 * time.Second)}}
	require.Equal(t, "node n2 unreachable since 2026-03-01T12:00:00Z (last seen 2026-03-01T11:59:55Z)", txnOut(st, txn).Steps[1].Waiting)
	require.Empty(t, txnOut(st, txn).Steps[0].Waiting, "a done step waits for nothing")
	delete(st.Members, "n2")
	require.Equal(t, "node n2 is no longer a member", txnOut(st, txn).Steps[1].Waiting)
	st.Members["n2"] = fsm.Member{ID: "n2", Liveness: alive}

	// A finalized transaction shows the version it finalized to, not the
	// one active now.
	txn.State = fsm.TxnDone
	require.Equal(t, 3, txnOut(st, txn).ProtocolVersion)

	// A client reads the answer back into api.Txn without loss.
	b, err := json.Marshal(txnOut(st, txn))
	require.NoError(t, err)
	var back api.Txn
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, txnOut(st, txn), back)
}

// A step's attempts and its skip come after the fields it had before.
func TestStepJSONCarriesAttemptsAndSkip(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := fsm.Step{Node: "n2", Batch: 1, State: fsm.StepDone, Attempt: 2, PriorVersion: "1.0.0", FromVersion: "1.0.0",
		ToVersion: "2.0.0", StartedAt: at, FinishedAt: at.Add(time.Minute),
		Attempts: []fsm.Attempt{
			{Attempt: 1, State: fsm.StepFailed, FromVersion: "1.0.0", ToVersion: "2.0.0", StartedAt: at.Add(-time.Hour),
				FinishedAt: at.Add(-time.Hour + time.Second), Error: "install exited 3"},
			{Attempt: 2, State: fsm.StepDone, FromVersion: "1.0.0", ToVersion: "2.0.0", StartedAt: at, FinishedAt: at.Add(time.Minute)}}}
	requireJSON(t, stepOut(s), `{"node":"n2","batch":1,"state":"done","attempt":2,"prior_version":"1.0.0",`+
		`"from_version":"1.0.0","to_version":"2.0.0","started_at":"2026-03-01T12:00:00Z","finished_at":"2026-03-01T12:01:00Z","error":"",`+
		`"attempts":[{"attempt":1,"state":"failed","from_version":"1.0.0","to_version":"2.0.0","started_at":"2026-03-01T11:00:00Z",`+
		`"finished_at":"2026-03-01T11:00:01Z","error":"install exited 3"},`+
		`{"attempt":2,"state":"done","from_version":"1.0.0","to_version":"2.0.0","started_at":"2026-03-01T12:00:00Z",`+
		`"finished_at":"2026-03-01T12:01:00Z"}]}`)
	skipped := fsm.Step{Node: "n3", State: fsm.StepDone, PriorVersion: "2.0.0", FromVersion: "2.0.0", ToVersion: "2.0.0",
		StartedAt: at, FinishedAt: at, Skipped: true}
	requireJSON(t, stepOut(skipped), `{"node":"n3","batch":0,"state":"done","attempt":0,"prior_version":"2.0.0",`+
		`"from_version":"2.0.0","to_version":"2.0.0","started_at":"2026-03-01T12:00:00Z","finished_at":"2026-03-01T12:00:00Z",`+
		`"error":"","skipped":true}`)
}

func TestJoinRequestComesInAsTheMemberItNames(t *testing.T) {
	m := fsm.Member{ID: "n3", RaftAddr: "127.0.0.1:7071", HTTPAddr: "127.0.0.1:7070", Version: "1.0.0",
		Protocol: fsm.ProtocolRange{Min: 1, Max: 2}, Labels: map[string]string{"zone": "b"}}
	require.Equal(t, m, memberIn(JoinRequestOut(m)))
	// Builds that sent their whole catalogue record sent "voter": it is
	// still accepted, and not taken.
	var req api.JoinRequest
	require.NoError(t, json.Unmarshal([]byte(`{"id":"n3","raft_addr":"a:1","http_addr":"a:2","version":"1.0.0",`+
		`"voter":true,"protocol":{"min":1,"max":1}}`), &req))
	require.False(t, memberIn(req).Voter)
}

func requireJSON(t *testing.T, v any, want string) {
	t.Helper()
	got, err := json.Marshal(v)
	require.NoError(t, err)
	require.JSONEq(t, want, string(got))
	require.Equal(t, want, string(got), "the fields keep their order too")
}

// fsmConstants parses package fsm's sources and returns the value of every
// constant declared with the named type, so that a new command type or
// state cannot be added there without the wire learning its name.
func fsmConstants(t *testing.T, typeName string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "fsm", "*.go"))
	require.NoError(t, err)
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typeName {
					continue
				}
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					require.True(t, ok, "%s is not a literal", name.Name)
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					out[name.Name] = v
				}
			}
		}
	}
	require.NotEmpty(t, out, "no constants of type fsm.%s found", typeName)
	return out
}

// Every command the state machine applies is published as an event under
// its type's name; the API lists each such name, and nothing else but the
// leadership events.
func TestEveryCommandTypeIsAnAPIEventType(t *testing.T) {
	apiNames := map[api.EventType]bool{}
	for _, e := range []api.EventType{api.EventMemberJoin, api.EventMemberLeave, api.EventMemberReport,
		api.EventMemberStatus, api.EventMemberLiveness, api.EventMemberVersionError, api.EventMemberForceLeave, api.EventMemberMove, api.EventMemberKey, api.EventClientRegister,
		api.EventTxnStart, api.EventStepBegin, api.EventStepComplete, api.EventStepFail,
		api.EventTxnPause, api.EventTxnResume, api.EventTxnRetry, api.EventTxnAbort, api.EventTxnFinish,
		api.EventTxnFinalize, api.EventTxnNote, api.EventStepSkip, api.EventTxnHalt, api.EventTxnRecover,
		api.EventServiceRoles, api.EventSwitchoverBegin, api.EventSwitchoverPhase, api.EventSwitchoverFail,
		api.EventRingSet, api.EventMemberService, api.EventGatewayRegister, api.EventGatewayLeave, api.EventGatewayExpire,
		api.EventGroupActing, api.EventArtifactAdd, api.EventArtifactHeld} {
		require.True(t, e.IsCommand(), e)
		apiNames[e] = true
	}
	commands := fsmConstants(t, "CommandType")
	for name, value := range commands {
		ev := EventTypeOut(fsm.CommandType(value))
		require.True(t, apiNames[ev], "fsm.%s (%q) has no api.Event constant", name, value)
		delete(apiNames, ev)
	}
	require.Empty(t, apiNames, "api event types that name no command of the state machine")
	require.False(t, api.EventLeadershipGained.IsCommand())
	require.False(t, api.EventLeadershipLost.IsCommand())
}

// Every state the state machine has is named on the wire with the same
// word it is persisted as.
func TestEveryStateHasItsWireName(t *testing.T) {
	for name, value := range fsmConstants(t, "TxnState") {
		require.Equal(t, value, string(txnStateOut(fsm.TxnState(value))), "fsm.%s", name)
	}
	wireTxn := map[api.TxnState]bool{api.TxnRunning: true, api.TxnPaused: true, api.TxnFailed: true,
		api.TxnFinalizing: true, api.TxnDone: true, api.TxnAborting: true, api.TxnAborted: true, api.TxnRollbackFailed: true}
	require.Len(t, fsmConstants(t, "TxnState"), len(wireTxn))
	for name, value := range fsmConstants(t, "TxnState") {
		s := fsm.TxnState(value)
		require.True(t, wireTxn[txnStateOut(s)], "fsm.%s has no api constant", name)
		require.Equal(t, s.Terminal(), txnStateOut(s).Terminal(), "fsm.%s", name)
		require.Equal(t, !s.Terminal(), txnStateOut(s).Active(), "fsm.%s: every state but the terminal ones is active", name)
	}
	wireStep := map[api.StepState]bool{api.StepPending: true, api.StepRunning: true, api.StepDone: true,
		api.StepFailed: true, api.StepRolledBack: true}
	require.Len(t, fsmConstants(t, "StepState"), len(wireStep))
	for name, value := range fsmConstants(t, "StepState") {
		require.Equal(t, value, string(stepStateOut(fsm.StepState(value))), "fsm.%s", name)
		require.True(t, wireStep[stepStateOut(fsm.StepState(value))], "fsm.%s has no api constant", name)
	}
}

func TestAPIHistoryBoundIsTheStateMachines(t *testing.T) {
	require.Equal(t, fsm.MaxHistory, api.MaxHistory)
}

func TestOnFailurePoliciesAreTheStateMachines(t *testing.T) {
	require.Equal(t, fsm.OnFailureHalt, api.OnFailureHalt)
	require.Equal(t, fsm.OnFailureRollback, api.OnFailureRollback)
}
