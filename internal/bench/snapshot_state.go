package bench

import (
	"fmt"
	"time"

	"github.com/baton-upgrade/baton/fsm"
)

// snapshotState builds the replicated state the snapshot figures are taken
// of: members catalogue entries (m00000 is the leader itself, at
// leaderRaftAddr), one finished transaction over every member, and one
// half-way through, max-parallel 100, with 100 steps running. The members
// go straight into the catalogue (committing each join would take hours at
// 100,000: every join checks the whole catalogue for a clashing address);
// the transactions are built by the state machine's own commands, so they
// are what a real run leaves.
func snapshotState(members int, leaderRaftAddr string) (*fsm.State, error) {
	s := fsm.NewState(1)
	for i := range members {
		id := fmt.Sprintf("m%05d", i)
		raftAddr, httpAddr := fmt.Sprintf("10.%d.%d.%d:7071", i/62500, i/250%250, 1+i%250), fmt.Sprintf("10.%d.%d.%d:7070", i/62500, i/250%250, 1+i%250)
		if i == 0 {
			raftAddr = leaderRaftAddr
		}
		s.Members[id] = fsm.Member{ID: id, RaftAddr: raftAddr, HTTPAddr: httpAddr, Version: "1.0.0", Voter: i == 0,
			Protocol: fsm.ProtocolRange{Min: 1, Max: 1}, Labels: map[string]string{"zone": fmt.Sprintf("z%d", i%3)}}
	}
	b := &stateBuilder{s: s, at: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	ids := make([]string, 0, members)
	for _, m := range s.MemberList() {
		ids = append(ids, m.ID)
	}
	if err := b.txn("t-snapshot-done", "2.0.0", ids, len(ids), 0); err != nil {
		return nil, err
	}
	if err := b.apply(fsm.CmdTxnFinalize, fsm.TxnFinalize{TxnID: "t-snapshot-done", ProtocolVersion: 1}); err != nil {
		return nil, err
	}
	if err := b.txn("t-snapshot-active", "3.0.0", ids, len(ids)/2, 100); err != nil {
		return nil, err
	}
	return s, nil
}

// stateBuilder applies commands to a state as Raft would, one index each.
type stateBuilder struct {
	s  *fsm.State
	at time.Time
}

func (b *stateBuilder) apply(typ fsm.CommandType, body any) error {
	b.at = b.at.Add(time.Millisecond)
	raw, err := fsm.Encode(typ, 1, b.at, body)
	if err != nil {
		return err
	}
	e, err := fsm.Decode(raw)
	if err != nil {
		return err
	}
	return b.s.Apply(b.s.Index+1, e)
}

// txn starts a by-id transaction over ids, max-parallel 100, completes the
// first done steps and begins the next running ones.
func (b *stateBuilder) txn(id, version string, ids []string, done, running int) error {
	t := fsm.Txn{ID: id, TargetVersion: version, Strategy: "by-id", MaxParallel: 100, OnFailure: fsm.OnFailureHalt,
		StepTimeout: fsm.Duration(10 * time.Minute), ProgressDeadline: fsm.Duration(30 * time.Minute), LeaderAtStart: ids[0]}
	for i, node := range ids {
		t.Steps = append(t.Steps, fsm.Step{Node: node, Batch: i / 100})
	}
	if err := b.apply(fsm.CmdTxnStart, fsm.TxnStart{Txn: t}); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	for i, node := range ids[:min(done+running, len(ids))] {
		if err := b.apply(fsm.CmdStepBegin, fsm.StepBegin{TxnID: id, Node: node, Attempt: 1}); err != nil {
			return fmt.Errorf("begin %s in %s: %w", node, id, err)
		}
		if i >= done {
			continue
		}
		if err := b.apply(fsm.CmdStepComplete, fsm.StepComplete{TxnID: id, Node: node, Attempt: 1, Version: version}); err != nil {
			return fmt.Errorf("complete %s in %s: %w", node, id, err)
		}
	}
	return nil
}
