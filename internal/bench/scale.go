package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/coordinator"
	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/node"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/go-hclog"
)

// ScaleOptions size the scale run.
type ScaleOptions struct {
	// Members is the size of the catalogue: the leader plus simulated
	// agents.
	Members int
	// MaxParallel is the transaction's max-parallel.
	MaxParallel int
	// Runs is how many transactions upgrade every member.
	Runs int
	// Dir holds the leader's data directory.
	Dir string
	// Limit bounds the whole run.
	Limit time.Duration
}

// ScaleResult is what a scale run measured. Times are wall-clock.
type ScaleResult struct {
	Members     int       `json:"members"`
	MaxParallel int       `json:"max_parallel"`
	Populate    float64   `json:"populate_ms"`     // committing every simulated member's join
	TxnMS       []float64 `json:"txn_ms"`          // per run: the transaction, created to finished
	StepsPerSec []float64 `json:"steps_per_sec"`   // per run
	PlanMS      []float64 `json:"plan_ms"`         // per plan call
	SnapshotMS  []float64 `json:"snapshot_ms"`     // per Raft snapshot
	SnapshotMB  []float64 `json:"snapshot_mb"`     // per Raft snapshot
	PeakRSSMB   float64   `json:"peak_rss_mb"`     // the process's high-water mark
	HeapMB      float64   `json:"heap_in_use_mb"`  // Go heap in use after the runs
	EntryKiB    float64   `json:"txn_start_kib"`   // size of the txn.start log entry
	Commits     uint64    `json:"raft_last_index"` // the log's last index at the end
}

// Scale runs a real agent in this process, the only voter of a one-node
// Raft cluster (raft-boltdb and file snapshots in opts.Dir, TCP transport
// on loopback), with the real state machine and coordinator. Its catalogue
// holds opts.Members members: itself and simulated agents that answer the
// coordinator's calls in-process, each completing its step at once with a
// completion notice committed through the coordinator, as a real agent's
// notice would be. It then upgrades every member opts.Runs times with
// max-parallel opts.MaxParallel, and takes Raft snapshots of the result.
//
// Run it in a process of its own: the peak memory it reports is the
// process's.
func Scale(ctx context.Context, opts ScaleOptions) (ScaleResult, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Limit)
	defer cancel()
	res := ScaleResult{Members: opts.Members, MaxParallel: opts.MaxParallel}
	raftAddr, err := procs.FreeAddr()
	if err != nil {
		return res, err
	}
	httpAddr, err := procs.FreeAddr()
	if err != nil {
		return res, err
	}
	agent, err := node.New(node.Config{ID: "m00000", DataDir: filepath.Join(opts.Dir, "leader"), RaftAddr: raftAddr,
		HTTPAddr: httpAddr, Bootstrap: true, Version: "1.0.0", BuildVersion: "1.0.0", Protocol: fsm.ProtocolRange{Min: 1, Max: 1},
		RaftMultiplier: 0.2, Logger: hclog.NewNullLogger()})
	if err != nil {
		return res, err
	}
	sim := newSimAgents(ctx)
	co := coordinator.New(agent, sim, coordinator.Options{Logger: hclog.NewNullLogger()})
	sim.co, sim.agent = co, agent
	agent.OnLeadership(co.Run)
	if err := agent.Start(); err != nil {
		return res, err
	}
	defer agent.Shutdown()
	if err := waitFor(ctx, agent.IsLeader); err != nil {
		return res, fmt.Errorf("scale: no leadership: %w", err)
	}
	if _, err := agent.Join(ctx, agent.Self()); err != nil {
		return res, fmt.Errorf("scale: register the leader: %w", err)
	}

	start := time.Now()
	if err := populate(ctx, agent, opts.Members-1); err != nil {
		return res, err
	}
	res.Populate = ms(time.Since(start))

	req := api.StartRequest{Strategy: "by-id", MaxParallel: strconv.Itoa(opts.MaxParallel), AllowLeaderUpgrade: true,
		StepTimeout: "10m", ProgressDeadline: "30m"}
	for i := range 5 {
		req.TargetVersion = versionFor(i)
		start := time.Now()
		if _, err := co.Plan(ctx, req); err != nil {
			return res, fmt.Errorf("scale: plan: %w", err)
		}
		res.PlanMS = append(res.PlanMS, ms(time.Since(start)))
	}

	for i := range opts.Runs {
		req.TargetVersion = versionFor(i)
		txn, err := co.Start(ctx, req)
		if err != nil {
			return res, fmt.Errorf("scale: start: %w", err)
		}
		if i == 0 {
			if b, err := fsm.Encode(fsm.CmdTxnStart, 1, time.Now(), fsm.TxnStart{Txn: *txn}); err == nil {
				res.EntryKiB = float64(len(b)) / 1024
			}
		}
		done, err := waitTxnDone(ctx, agent.FSM(), txn.ID)
		if err != nil {
			return res, err
		}
		took := done.FinishedAt.Sub(done.CreatedAt)
		res.TxnMS = append(res.TxnMS, ms(took))
		res.StepsPerSec = append(res.StepsPerSec, float64(len(done.Steps))/took.Seconds())
	}

	for range 3 {
		// A snapshot needs entries after the previous one: re-register.
		if _, err := agent.Join(ctx, agent.Self()); err != nil {
			return res, err
		}
		start := time.Now()
		f := agent.Raft().Snapshot()
		if err := f.Error(); err != nil {
			return res, fmt.Errorf("scale: snapshot: %w", err)
		}
		res.SnapshotMS = append(res.SnapshotMS, ms(time.Since(start)))
		meta, rc, err := f.Open()
		if err != nil {
			return res, fmt.Errorf("scale: open snapshot: %w", err)
		}
		rc.Close()
		res.SnapshotMB = append(res.SnapshotMB, float64(meta.Size)/(1<<20))
	}
	res.Commits = agent.LastIndex()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	res.HeapMB = float64(mem.HeapInuse) / (1 << 20)
	res.PeakRSSMB = peakRSSMB()
	return res, nil
}

// populate commits a member.join for n simulated agents, 64 in flight at
// a time (Raft batches concurrent applies). They are catalogue members,
// not Raft servers: non-voters that the coordinator reaches through
// simAgents.
func populate(ctx context.Context, agent *node.Agent, n int) error {
	sem := make(chan struct{}, 64)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m := fsm.Member{ID: fmt.Sprintf("m%05d", i), RaftAddr: fmt.Sprintf("127.0.%d.%d:7071", 1+i/250, 1+i%250),
				HTTPAddr: fmt.Sprintf("127.0.%d.%d:7070", 1+i/250, 1+i%250), Version: "1.0.0", Protocol: fsm.ProtocolRange{Min: 1, Max: 1}}
			if _, err := agent.Apply(ctx, fsm.CmdMemberJoin, fsm.MemberJoin{Member: m}); err != nil {
				select {
				case errc <- fmt.Errorf("scale: join %s: %w", m.ID, err):
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// waitTxnDone waits for the transaction to end, woken by every apply.
func waitTxnDone(ctx context.Context, f *fsm.FSM, id string) (*fsm.Txn, error) {
	for {
		changed := f.Changed()
		var t *fsm.Txn
		f.View(func(s *fsm.State) {
			if x := s.Txns[id]; x != nil && x.State.Terminal() {
				t = s.Txn(id)
			}
		})
		if t != nil {
			if t.State != fsm.TxnDone {
				return t, fmt.Errorf("scale: transaction %s ended %s: %s", id, t.State, t.Reason)
			}
			return t, nil
		}
		select {
		case <-ctx.Done():
			var state, reason string
			f.View(func(s *fsm.State) {
				if x := s.Txns[id]; x != nil {
					state, reason = string(x.State), x.Reason
				}
			})
			return nil, fmt.Errorf("scale: transaction %s still %s (%s): %w", id, state, reason, ctx.Err())
		case <-changed:
		}
	}
}

func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// peakRSSMB reads the process's resident-set high-water mark.
func peakRSSMB() float64 {
	kb, _ := strconv.ParseFloat(strings.Fields(procField("/proc/self/status", "VmHWM") + " 0")[0], 64)
	return kb / 1024
}

// simAgents stands in for every agent but the leader: a step sent to one
// completes at once, and its completion notice is committed through the
// coordinator, as the agent's own notice would be. Status and diagnostic
// calls are answered from what it was sent.
type simAgents struct {
	ctx   context.Context
	co    *coordinator.Coordinator
	agent *node.Agent
	mu    sync.Mutex
	steps map[string]api.StepStatus // "addr/txn/attempt"
}

func newSimAgents(ctx context.Context) *simAgents {
	return &simAgents{ctx: ctx, steps: map[string]api.StepStatus{}}
}

func simKey(addr, txn string, attempt uint64) string {
	return addr + "/" + txn + "/" + strconv.FormatUint(attempt, 10)
}

// RunStep implements coordinator.Nodes.
func (s *simAgents) RunStep(_ context.Context, addr string, req api.StepRequest) (api.StepStatus, error) {
	key := simKey(addr, req.TxnID, req.Attempt)
	s.mu.Lock()
	st, known := s.steps[key]
	if !known {
		st = api.StepStatus{TxnID: req.TxnID, Node: req.Node, Attempt: req.Attempt, State: api.StepRunning}
		s.steps[key] = st
	}
	s.mu.Unlock()
	if !known {
		go s.complete(key, api.Notice{TxnID: req.TxnID, Node: req.Node, Attempt: req.Attempt, State: api.StepDone, Version: req.TargetVersion})
	}
	return st, nil
}

// complete commits the notice, retrying as a real agent does until it is
// acknowledged or refused.
func (s *simAgents) complete(key string, n api.Notice) {
	for s.ctx.Err() == nil {
		err := s.co.Notice(s.ctx, n)
		if err == nil || errors.Is(err, fsm.ErrStale) || errors.Is(err, fsm.ErrInvalid) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	s.steps[key] = n
	s.mu.Unlock()
}

// StepStatus implements coordinator.Nodes.
func (s *simAgents) StepStatus(_ context.Context, addr, txnID string, attempt uint64) (api.StepStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.steps[simKey(addr, txnID, attempt)]; ok {
		return st, nil
	}
	return api.StepStatus{}, &api.APIError{Status: 404, Message: "unknown attempt"}
}

// CancelStep implements coordinator.Nodes: a simulated step finishes at
// once, so there is never anything to stop.
func (s *simAgents) CancelStep(_ context.Context, addr, txnID string, attempt uint64, _ string) (api.StepStatus, error) {
	return s.StepStatus(context.Background(), addr, txnID, attempt)
}

// NodeStepLogs implements coordinator.Nodes: simulated steps run no hook.
func (s *simAgents) NodeStepLogs(context.Context, string, string) ([]api.StepLogs, error) {
	return []api.StepLogs{}, nil
}

// Diagnostic implements coordinator.Nodes.
func (s *simAgents) Diagnostic(_ context.Context, addr string, _ bool) (api.Diagnostic, error) {
	return api.Diagnostic{Healthy: true, AppliedIndex: s.agent.LastIndex(), IdleCPU: 0.5, IdleMem: 0.5}, nil
}
