package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/raft"
)

// DefaultApplyTimeout bounds a write when the caller's context has no
// deadline of its own.
const DefaultApplyTimeout = 30 * time.Second

// Apply proposes a command and waits until it commits and is applied, or
// ctx ends. It returns the entry's index, or the state machine's rejection.
// It fails with an error wrapping api.ErrNoLeader if this agent is not the
// leader (nothing was proposed), and with api.ErrUnknownOutcome if leadership
// was lost or ctx ended after the proposal: the entry may still commit, which
// is why every command is idempotent.
func (a *Agent) Apply(ctx context.Context, t fsm.CommandType, body any) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultApplyTimeout)
		defer cancel()
	}
	var protocol int
	a.fsm.View(func(s *fsm.State) { protocol = max(s.ProtocolVersion, 1) })
	if need := fsm.CommandProtocol(t); need > protocol {
		// The protocol rule: never propose what a member of the cluster
		// might not be able to apply.
		return 0, fmt.Errorf("%w: %s needs protocol %d, but the cluster speaks %d until every member is upgraded and the transaction finalizes",
			fsm.ErrConflict, t, need, protocol)
	}
	data, err := fsm.Encode(t, protocol, time.Now(), body)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	f := a.parts.raft.Apply(data, 5*time.Second)
	defer metrics.MeasureSinceWithLabels([]string{"agent", "apply"}, start, []metrics.Label{{Name: "command", Value: string(t)}})
	if err := a.wait(ctx, f); err != nil {
		return 0, fmt.Errorf("apply %s: %w", t, err)
	}
	res, ok := f.Response().(*fsm.Result)
	if !ok {
		return 0, fmt.Errorf("apply %s: unexpected response %T", t, f.Response())
	}
	if res.Err != nil {
		metrics.IncrCounterWithLabels([]string{"agent", "apply", "rejected"}, 1, []metrics.Label{{Name: "command", Value: string(t)}})
	}
	return res.Index, res.Err
}

// wait waits for a Raft future within ctx and translates Raft's errors into
// the API's: whether the write surely did not happen, or may have.
func (a *Agent) wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		switch {
		case err == nil:
			return nil
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress),
			errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, raft.ErrEnqueueTimeout):
			return fmt.Errorf("%w: %v", api.ErrNoLeader, err)
		case errors.Is(err, raft.ErrLeadershipLost):
			return fmt.Errorf("%w: leadership was lost while committing: %v", api.ErrUnknownOutcome, err)
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: no commit before the deadline (is a quorum of voters up?): %v", api.ErrUnknownOutcome, ctx.Err())
	}
}
