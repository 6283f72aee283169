package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/node/executor"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Agent is one running member of a Baton cluster.
type Agent struct {
	cfg          Config
	log          hclog.Logger
	fsm          *fsm.FSM
	parts        *raftParts
	leaderNotify chan bool

	joinMu sync.Mutex

	journal *journal.Journal
	exec    *executor.Executor
	notices *noticeQueue
	events  *eventLog
	idle    idleMeter

	// leaderDuties are started on every gain of leadership and stopped on
	// its loss; each gets a context that ends with the leadership.
	dutiesMu     sync.Mutex
	leaderDuties []func(ctx context.Context)

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// New validates cfg and creates an agent; Start runs it.
func New(cfg Config) (*Agent, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{
		cfg:          cfg,
		log:          cfg.Logger,
		fsm:          fsm.NewFor(0, cfg.Protocol.Max),
		leaderNotify: make(chan bool, 16),
		notices:      newNoticeQueue(),
		events:       newEventLog(),
		ctx:          ctx,
		cancel:       cancel,
	}
	a.fsm.OnApply(a.recordApply)
	return a, nil
}

// OnLeadership registers a duty run on this agent while it is the leader,
// after a barrier, in its own goroutine; its context ends when leadership is
// lost or the agent stops. Register duties before Start.
func (a *Agent) OnLeadership(duty func(ctx context.Context)) {
	a.dutiesMu.Lock()
	defer a.dutiesMu.Unlock()
	a.leaderDuties = append(a.leaderDuties, duty)
}

// Start opens the stores, starts Raft and the leadership monitor, and, for a
// node with no Raft state of its own, either bootstraps or begins joining.
// It returns once Raft runs; joining goes on in the background and a refusal
// is reported through Done's error.
func (a *Agent) Start() error {
	parts, err := a.startRaft()
	if err != nil {
		return err
	}
	a.parts = parts
	if err := a.startExecutor(); err != nil {
		_ = parts.close()
		return err
	}
	a.wg.Add(1)
	go a.sendNotices()
	if a.cfg.Protocol.Max >= fsm.CommandProtocol(fsm.CmdMemberStatus) {
		a.wg.Add(1)
		go a.reportBuild()
	}
	a.log.Info("raft started", "id", a.cfg.ID, "raft_addr", a.cfg.RaftAddr,
		"existing_state", parts.existing, "bootstrap", a.cfg.Bootstrap && !parts.existing)
	a.wg.Add(1)
	go a.monitorLeadership()
	return nil
}

// Register makes sure this agent's catalogue record is current: it asks the
// cluster (through the members in Join, or through its own API, which
// forwards to the leader) to admit it, retrying while no leader is reachable.
// It fails on a refusal (a conflicting id or address) or when ctx ends.
func (a *Agent) Register(ctx context.Context) error {
	targets := a.cfg.Join
	if a.parts.existing || len(targets) == 0 {
		targets = []string{a.cfg.HTTPAddr}
	}
	self := a.Self()
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		target := targets[attempt%len(targets)]
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := api.NewClient(target, a.cfg.Token).Join(cctx, rpc.JoinRequestOut(self))
		cancel()
		if err == nil {
			a.log.Info("registered in the catalogue", "via", target)
			return nil
		}
		var apiErr *api.APIError
		if errors.As(err, &apiErr) && apiErr.Status != 503 {
			return fmt.Errorf("join via %s refused: %w", target, err)
		}
		a.log.Debug("join not yet possible", "via", target, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("join: gave up after %d attempts: last error: %w", attempt+1, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// Self is this agent's catalogue record as it would register it.
func (a *Agent) Self() fsm.Member {
	return fsm.Member{ID: a.cfg.ID, RaftAddr: a.cfg.RaftAddr, HTTPAddr: a.cfg.HTTPAddr,
		Version: a.cfg.Version, Protocol: a.cfg.Protocol, Labels: a.cfg.Labels}
}

// Shutdown stops leader duties, Raft and the stores. It is safe to call more
// than once.
func (a *Agent) Shutdown() error {
	var err error
	a.stopOnce.Do(func() {
		a.cancel()
		if a.exec != nil {
			a.exec.Close()
		}
		a.wg.Wait()
		if a.parts != nil {
			err = a.parts.close()
		}
		if a.journal != nil {
			_ = a.journal.Close()
		}
	})
	return err
}

// ID is this agent's member id.
func (a *Agent) ID() string { return a.cfg.ID }

// FSM is the local state machine.
func (a *Agent) FSM() *fsm.FSM { return a.fsm }

// Raft exposes the Raft instance to packages that drive it (the
// coordinator's leadership handoff).
func (a *Agent) Raft() *raft.Raft { return a.parts.raft }

// Logger is the agent's logger.
func (a *Agent) Logger() hclog.Logger { return a.log }

// IsLeader reports whether this agent is the Raft leader.
func (a *Agent) IsLeader() bool { return a.parts.raft.State() == raft.Leader }

// Leader returns the leader's id and API address as far as this agent
// knows; empty strings when there is none.
func (a *Agent) Leader() (id, httpAddr string) {
	_, lid := a.parts.raft.LeaderWithID()
	id = string(lid)
	if id == "" {
		return "", ""
	}
	a.fsm.View(func(s *fsm.State) { httpAddr = s.Members[id].HTTPAddr })
	return id, httpAddr
}

// Barrier waits until every entry committed before it is applied to the
// local state machine. It fails unless this agent is the leader.
func (a *Agent) Barrier(ctx context.Context) error {
	return a.wait(ctx, a.parts.raft.Barrier(0))
}

// LastIndex is the index of the last entry in this agent's Raft log.
func (a *Agent) LastIndex() uint64 { return a.parts.raft.LastIndex() }

// Health describes the agent and its Raft state.
func (a *Agent) Health() api.Health {
	id, _ := a.Leader()
	h := api.Health{ID: a.cfg.ID, RaftState: a.parts.raft.State().String(), Leader: id,
		AppliedIndex: a.parts.raft.AppliedIndex(), LastIndex: a.parts.raft.LastIndex()}
	a.fsm.View(func(s *fsm.State) { h.ProtocolVersion = s.ProtocolVersion })
	return h
}
