package rpc

import (
	"fmt"
	"slices"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// This file is the one edge between the state machine's records and the
// API's: every conversion between an fsm type and an api type is here, out
// (fsm to api, for answers) and in (api to fsm, for requests). The API's
// JSON must not change when the state machine's records do; the tests
// beside this file pin both the JSON and the names the two share.

// memberOut is member m as the API shows it; leader says whether m leads as
// this agent sees it.
func memberOut(m fsm.Member, leader bool) api.Member {
	out := api.Member{ID: m.ID, RaftAddr: m.RaftAddr, HTTPAddr: m.HTTPAddr, Version: m.Version, Voter: m.Voter,
		Protocol: ProtocolRangeOut(m.Protocol), Labels: copyLabels(m.Labels), Leader: leader, VersionError: m.VersionError,
		Role: m.Role, ServiceAddr: m.ServiceAddr, NodeKey: m.NodeKey, Client: m.Client}
	if m.Build != nil {
		b := BuildInfoOut(*m.Build)
		out.Build = &b
	}
	out.Status = api.MemberUnknown
	if l := m.Liveness; l != nil {
		out.Status, out.StatusSince, out.LastSeen = livenessOut(l.Status), l.Since, l.LastSeen
	}
	return out
}

// livenessOut names a liveness status on the wire.
func livenessOut(s string) string {
	switch s {
	case fsm.LivenessAlive:
		return api.MemberAlive
	case fsm.LivenessUnreachable:
		return api.MemberUnreachable
	}
	return api.MemberUnknown
}

// memberIn is the catalogue record a join request asks for. Voter is not
// taken: the leader decides it.
func memberIn(req api.JoinRequest) fsm.Member {
	return fsm.Member{ID: req.ID, RaftAddr: req.RaftAddr, HTTPAddr: req.HTTPAddr, Version: req.Version,
		Protocol: protocolRangeIn(req.Protocol), Labels: copyLabels(req.Labels)}
}

// moveIn is the move a join request from an agent at a new Raft address
// asks for.
func moveIn(req api.JoinRequest) fsm.MemberMove {
	return fsm.MemberMove{ID: req.ID, RaftAddr: req.RaftAddr, PriorRaftAddr: req.PriorRaftAddr}
}

// JoinRequestOut is the request that registers the catalogue record m, for
// an agent that asks the cluster to admit it.
func JoinRequestOut(m fsm.Member) api.JoinRequest {
	return api.JoinRequest{ID: m.ID, RaftAddr: m.RaftAddr, HTTPAddr: m.HTTPAddr, Version: m.Version,
		Protocol: ProtocolRangeOut(m.Protocol), Labels: copyLabels(m.Labels)}
}

func copyLabels(l map[string]string) map[string]string {
	if l == nil {
		return nil
	}
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

// ProtocolRangeOut is the protocol range p on the wire.
func ProtocolRangeOut(p fsm.ProtocolRange) api.ProtocolRange {
	return api.ProtocolRange{Min: p.Min, Max: p.Max}
}

func protocolRangeIn(p api.ProtocolRange) fsm.ProtocolRange {
	return fsm.ProtocolRange{Min: p.Min, Max: p.Max}
}

// BuildInfoOut is the build report b on the wire.
func BuildInfoOut(b fsm.BuildInfo) api.BuildInfo {
	return api.BuildInfo{Version: b.Version, Protocol: ProtocolRangeOut(b.Protocol), GoVersion: b.GoVersion}
}

func buildInfoIn(b api.BuildInfo) fsm.BuildInfo {
	return fsm.BuildInfo{Version: b.Version, Protocol: protocolRangeIn(b.Protocol), GoVersion: b.GoVersion}
}

func memberStatusOut(st fsm.MemberStatus) api.MemberStatus {
	return api.MemberStatus{ID: st.ID, Build: BuildInfoOut(st.Build)}
}

// txnOut is transaction t as the API shows it, read from state st: its
// protocol version is the cluster's active one, or, once t finalized, the
// version it finalized to.
func txnOut(st *fsm.State, t *fsm.Txn) api.Txn {
	out := api.Txn{ID: t.ID, State: txnStateOut(t.State), TargetVersion: t.TargetVersion,
		ArtifactURL: t.ArtifactURL, ArtifactSHA256: t.ArtifactSHA256, Strategy: t.Strategy,
		MaxParallel: t.MaxParallel, OnFailure: t.OnFailure, StepTimeout: api.Duration(t.StepTimeout),
		ProgressDeadline: api.Duration(t.ProgressDeadline), AllowLeaderUpgrade: t.AllowLeaderUpgrade,
		LeaderAtStart: t.LeaderAtStart, Reason: t.Reason,
		RollbackRequested: t.RollbackRequested, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		LastProgressAt: t.LastProgressAt, FinishedAt: t.FinishedAt, ProtocolVersion: st.ProtocolVersion}
	if t.State == fsm.TxnDone {
		out.ProtocolVersion = t.ProtocolVersion
	}
	serviceTxnOut(t, &out) // service.go
	out.Ring = slices.Clone(t.Ring)
	out.Groups = GroupsOut(t.Groups)
	out.ArtifactStored = t.ArtifactStored
	if t.Steps != nil {
		out.Steps = make([]api.Step, len(t.Steps))
		current := t.CurrentBatch()
		for i, s := range t.Steps {
			out.Steps[i] = stepOut(s)
			if !t.State.Terminal() && (s.State == fsm.StepRunning || (s.State == fsm.StepPending && s.Batch == current)) {
				out.Steps[i].Waiting = waitingOn(st, s.Node)
			}
		}
	}
	return out
}

// waitingOn says why a step due on node cannot go on, from what the
// catalogue records of the node; "" when nothing is known against it.
func waitingOn(st *fsm.State, node string) string {
	m, ok := st.Members[node]
	if !ok {
		return fmt.Sprintf("node %s is no longer a member", node)
	}
	if l := m.Liveness; l != nil && l.Status == fsm.LivenessUnreachable {
		w := fmt.Sprintf("node %s unreachable since %s", node, l.Since.UTC().Format(time.RFC3339))
		if !l.LastSeen.IsZero() {
			w += fmt.Sprintf(" (last seen %s)", l.LastSeen.UTC().Format(time.RFC3339))
		}
		return w
	}
	return ""
}

// GroupsOut is a transaction's groups as the API shows them; nil for none.
func GroupsOut(groups []fsm.Group) []api.Group {
	if len(groups) == 0 {
		return nil
	}
	out := make([]api.Group, len(groups))
	for i, g := range groups {
		out[i] = api.Group{Name: g.Name, Leader: g.Leader, Members: append([]string(nil), g.Members...),
			Acting: g.Acting, ActingReason: g.ActingReason, ActingSince: g.ActingSince}
	}
	return out
}

func stepOut(s fsm.Step) api.Step {
	out := api.Step{Node: s.Node, Batch: s.Batch, State: stepStateOut(s.State), Attempt: s.Attempt,
		PriorVersion: s.PriorVersion, FromVersion: s.FromVersion, ToVersion: s.ToVersion, Rollback: s.Rollback,
		StartedAt: s.StartedAt, FinishedAt: s.FinishedAt, Error: s.Error, Skipped: s.Skipped}
	if len(s.Attempts) > 0 {
		out.Attempts = make([]api.Attempt, len(s.Attempts))
		for i, a := range s.Attempts {
			out.Attempts[i] = api.Attempt{Attempt: a.Attempt, Rollback: a.Rollback, State: stepStateOut(a.State),
				FromVersion: a.FromVersion, ToVersion: a.ToVersion, StartedAt: a.StartedAt, FinishedAt: a.FinishedAt, Error: a.Error}
		}
	}
	return out
}

// txnStateOut names a transaction state on the wire. Every state the state
// machine has is listed (a test checks it); the persisted names and the
// wire's are the same words.
func txnStateOut(s fsm.TxnState) api.TxnState {
	switch s {
	case fsm.TxnRunning:
		return api.TxnRunning
	case fsm.TxnPaused:
		return api.TxnPaused
	case fsm.TxnFailed:
		return api.TxnFailed
	case fsm.TxnFinalizing:
		return api.TxnFinalizing
	case fsm.TxnDone:
		return api.TxnDone
	case fsm.TxnAborting:
		return api.TxnAborting
	case fsm.TxnAborted:
		return api.TxnAborted
	case fsm.TxnRollbackFailed:
		return api.TxnRollbackFailed
	}
	return api.TxnState(s)
}

// stepStateOut names a step state on the wire; see txnStateOut.
func stepStateOut(s fsm.StepState) api.StepState {
	switch s {
	case fsm.StepPending:
		return api.StepPending
	case fsm.StepRunning:
		return api.StepRunning
	case fsm.StepDone:
		return api.StepDone
	case fsm.StepFailed:
		return api.StepFailed
	case fsm.StepRolledBack:
		return api.StepRolledBack
	}
	return api.StepState(s)
}

// EventTypeOut names the event of an applied command: the command's type,
// which the API lists as its event types (a test checks that every command
// type has its api constant, under the same name).
func EventTypeOut(t fsm.CommandType) api.EventType { return api.EventType(t) }
