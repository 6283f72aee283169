package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/baton-upgrade/baton/node/pull"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/node/executor"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
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
	// fatal receives the error that makes the agent stop on its own.
	fatal chan error

	joinMu sync.Mutex
	// clientTLS is the configuration of this agent's calls to other
	// agents (nil without TLS); made once so its clients share connections.
	clientTLS *tls.Config
	// key is this node's identity: it signs every request the agent sends
	// other agents (identity.go).
	key nodeauth.Key
	// health runs the health hook for Diagnostic (health_probe.go).
	health healthProbe

	journal *journal.Journal
	exec    *executor.Executor
	// held is this server's store of the artifacts held by the cluster
	// (artifacts.go).
	held    heldArtifacts
	notices *noticeQueue
	nudges  chan struct{} // NudgeFollowers (nudge.go)
	events  *eventLog
	idle    idleMeter

	heartbeats *heartbeats
	// pull is the leader's side of the client agents' pull protocol
	// (clients_pull.go), reset at each gain of leadership.
	pull *pull.Hub
	// priorRaftAddr is the Raft address this agent's own Raft state held
	// for it when that differs from --raft-addr: the agent restarted at a
	// new address and asks the leader to move it.
	priorRaftAddr string

	// serviceMu runs the service's promote, demote and follow hooks one at
	// a time; members is the file hooks read as BATON_MEMBERS_FILE
	// (service.go).
	serviceMu sync.Mutex
	members   *membersFile

	// versionMu guards version: what this node last found it runs (its
	// version hook's output, or the build version without one; "" while
	// unknown), and versionErr: why the last reading failed ("" when it
	// succeeded).
	versionMu  sync.Mutex
	version    string
	versionErr string
	// versionChanged wakes reportVersionError when a reading or the
	// registration changes what it must report.
	versionChanged chan struct{}
	// serviceAddrPoke wakes reportServiceAddr when the registration
	// succeeds (service_addr.go).
	serviceAddrPoke chan struct{}
	// clusterID is the cluster this data dir belongs to ("" unknown;
	// cluster.go).
	clusterMu sync.Mutex
	clusterID string
	// registered is set once Register has succeeded.
	registered atomic.Bool

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
		cfg:             cfg,
		log:             cfg.Logger,
		fsm:             fsm.NewFor(0, cfg.Protocol.Max),
		leaderNotify:    make(chan bool, 16),
		fatal:           make(chan error, 1),
		health:          healthProbe{ttl: HealthProbeTTL, now: time.Now},
		heartbeats:      newHeartbeats(),
		pull:            pull.New(0, nil),
		notices:         newNoticeQueue(),
		nudges:          make(chan struct{}, 1),
		events:          newEventLog(),
		version:         initialVersion(cfg),
		versionChanged:  make(chan struct{}, 1),
		serviceAddrPoke: make(chan struct{}, 1),
		ctx:             ctx,
		cancel:          cancel,
		members:         &membersFile{path: filepath.Join(cfg.DataDir, "service", "members.json")},
	}
	if cfg.TLS != nil {
		a.clientTLS = cfg.TLS.ClientConfig()
	}
	a.fsm.OnApply(a.recordApply)
	a.fsm.OnHalt(a.halt)
	a.fsm.OnSkip(a.skipped)
	return a, nil
}

// initialVersion is what the agent knows of its node's version before it
// reads it: nothing when a version hook will say, or else its own build's
// version (cfg.Version), which is then the node's.
func initialVersion(cfg Config) string {
	if strings.TrimSpace(cfg.Hooks.Version) != "" {
		return ""
	}
	return cfg.Version
}

// Fatal receives the error that makes this agent stop on its own: its state
// machine met a log entry this build cannot apply. The caller must shut the
// agent down and exit non-zero; running on would serve a state that differs
// from the other replicas'.
func (a *Agent) Fatal() <-chan error { return a.fatal }

// halt is told by the state machine that it stopped at an entry it cannot
// apply. It runs under the state lock, so it only logs and signals.
func (a *Agent) halt(h *fsm.HaltError) {
	err := fmt.Errorf("%w; this build speaks protocols %d-%d: stopping rather than diverge from the other servers. "+
		"Run a build that speaks the entry's protocol on this node (or remove the node and join it again)", h, a.cfg.Protocol.Min, a.cfg.Protocol.Max)
	a.log.Error(LogCannotApply, "index", h.Index, "type", h.Type, "entry_protocol", h.Protocol, "error", h.Err)
	select {
	case a.fatal <- err:
	default:
	}
}

// skipped logs an optional entry the state machine skipped.
func (a *Agent) skipped(index uint64, e fsm.Envelope) {
	a.log.Warn(LogSkippedEntry, "index", index, "type", e.Type, "entry_protocol", e.Protocol)
}

// The lines an agent logs about entries it cannot apply; tests and
// operators search the logs for them.
const (
	LogCannotApply  = "cannot apply log entry"
	LogSkippedEntry = "skipped optional log entry"
)

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
	// Raft reports from its first moment: the sink must be there first.
	if _, err := processSink(); err != nil {
		a.log.Warn("metrics disabled", "error", err)
	}
	if err := os.MkdirAll(a.cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := a.checkStores(); err != nil {
		return err
	}
	if err := a.loadNodeKey(); err != nil { // identity.go
		return err
	}
	if err := a.syncStores(); err != nil {
		return err
	}
	parts, err := a.startRaft()
	if err != nil {
		return err
	}
	a.parts = parts
	if err := a.startExecutor(); err != nil {
		_ = parts.close()
		return err
	}
	if a.cfg.Bootstrap && !parts.existing {
		a.setClusterID(newClusterID()) // cluster.go
	}
	if err := a.writeIdentity(); err != nil {
		_ = a.Shutdown()
		return err
	}
	a.wg.Add(1)
	go a.sendNotices()
	a.wg.Add(1)
	go a.nudgeLoop() // nudge.go
	if a.cfg.Protocol.Max >= fsm.CommandProtocol(fsm.CmdMemberStatus) {
		a.wg.Add(1)
		go a.reportBuild()
	}
	if a.cfg.Protocol.Max >= fsm.CommandProtocol(fsm.CmdMemberVersionError) {
		a.wg.Add(1)
		go a.reportVersionError()
	}
	if a.cfg.Protocol.Max >= fsm.CommandProtocol(fsm.CmdMemberService) {
		a.wg.Add(1)
		go a.reportServiceAddr() // service_addr.go
	}
	if a.cfg.Protocol.Max >= fsm.CommandProtocol(fsm.CmdMemberKey) {
		a.wg.Add(1)
		go a.registerNodeKey()
	}
	a.log.Info("raft started", "id", a.cfg.ID, "raft_addr", a.cfg.RaftAddr,
		"existing_state", parts.existing, "bootstrap", a.cfg.Bootstrap && !parts.existing)
	a.heartbeats.observe(a.ctx, parts.raft, &a.wg)
	a.wg.Add(1)
	go a.keepPeersFile()
	a.notePriorRaftAddr()
	a.wg.Add(1)
	go a.watchRemoval()
	a.OnLeadership(a.trackLiveness)
	a.OnLeadership(a.keepVoters)
	a.wg.Add(1)
	go a.monitorLeadership()
	return nil
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
	r := a.parts.raft
	h := api.Health{ID: a.cfg.ID, RaftState: r.State().String(), Leader: id,
		AppliedIndex: r.AppliedIndex(), LastIndex: r.LastIndex(), RaftAddr: a.cfg.RaftAddr, Term: r.CurrentTerm()}
	switch last := r.LastContact(); {
	case r.State() == raft.Leader:
		h.LastContact = "0s"
	case last.IsZero():
		h.LastContact = "never"
	default:
		h.LastContact = time.Since(last).Round(time.Millisecond).String()
	}
	a.fsm.View(func(s *fsm.State) { h.ProtocolVersion = s.ProtocolVersion })
	h.ClusterID = a.ClusterID()
	return h
}
