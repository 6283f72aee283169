package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/baton-upgrade/baton/coordinator/strategy"
	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// request is a start request with its defaults applied and checked.
type request struct {
	api.StartRequest
	maxParallel      int
	storedArtifact   string // the digest of --artifact sha256:HEX (artifacts.go)
	stepTimeout      time.Duration
	progressDeadline time.Duration
}

// parseRequest validates a start request against the members; every error
// names the bad field and wraps fsm.ErrInvalid.
func (co *Coordinator) parseRequest(req api.StartRequest, members []fsm.Member) (request, error) {
	r := request{StartRequest: req}
	if req.TargetVersion == "" {
		return r, fmt.Errorf("%w: a target version is required (--version)", fsm.ErrInvalid)
	}
	if err := fsm.ValidateVersion(req.TargetVersion); err != nil {
		return r, err
	}
	if r.Strategy == "" {
		r.Strategy = strategy.Default
	}
	if err := strategy.Validate(r.Strategy); err != nil {
		return r, fmt.Errorf("%w: %v", fsm.ErrInvalid, err)
	}
	if r.OnFailure == "" {
		r.OnFailure = fsm.OnFailureHalt
	}
	if err := fsm.ValidateOnFailure(r.OnFailure); err != nil {
		return r, err
	}
	if r.MaxParallel == "" {
		r.MaxParallel = "1"
	}
	var err error
	if r.maxParallel, err = strategy.ParseMaxParallel(r.MaxParallel, len(members)); err != nil {
		return r, fmt.Errorf("%w: %v", fsm.ErrInvalid, err)
	}
	if r.stepTimeout, err = parseDuration("step-timeout", r.StepTimeout, co.opts.DefaultStepTimeout); err != nil {
		return r, err
	}
	if r.progressDeadline, err = parseDuration("progress-deadline", r.ProgressDeadline, co.opts.DefaultProgressDeadline); err != nil {
		return r, err
	}
	if r.storedArtifact, err = co.checkStoredArtifact(req); err != nil { // artifacts.go
		return r, err
	}
	if err := fsm.ValidateDigest(r.ArtifactURL, r.ArtifactSHA256); err != nil {
		return r, err
	}
	if r.ArtifactURL != "" {
		if err := fsm.ValidateArtifactURL(r.ArtifactURL, co.opts.AllowHTTPArtifacts); err != nil {
			return r, err
		}
	}
	voters := 0
	for _, m := range members {
		if m.Voter {
			voters++
		}
	}
	if voters == 1 && !r.AllowLeaderUpgrade {
		return r, fmt.Errorf("%w: this cluster has a single voter, which has nobody to hand leadership to; "+
			"add voters, or pass --allow-leader-upgrade to upgrade it in place", fsm.ErrInvalid)
	}
	if voters > 1 && r.AllowLeaderUpgrade {
		return r, fmt.Errorf("%w: --allow-leader-upgrade is only for a one-voter cluster; this one has %d voters", fsm.ErrInvalid, voters)
	}
	if err := co.checkMaxLag(r.MaxLag); err != nil { // switchover_plan.go
		return r, err
	}
	if err := co.checkGrouping(r); err != nil { // groups_plan.go
		return r, err
	}
	return r, nil
}

func parseDuration(name, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	if len(s) > 64 {
		return 0, fmt.Errorf("%w: %s of %d bytes: want a positive duration such as 10m", fsm.ErrInvalid, name, len(s))
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: %s %q: want a positive duration such as 10m", fsm.ErrInvalid, name, s)
	}
	if d > fsm.MaxDuration {
		return 0, fmt.Errorf("%w: %s %q: want at most %s (7 days)", fsm.ErrInvalid, name, s, fsm.MaxDuration)
	}
	return d, nil
}

// plan orders and batches the members for a request with its strategy, on
// a cluster that speaks protocol. A strategy that breaks its contract is a
// bug, reported as such (a 500); every other refusal is the request's
// fault and wraps fsm.ErrInvalid.
func (co *Coordinator) plan(r request, members []fsm.Member, leader string, protocol int) (api.Plan, error) {
	in := strategy.Input{Nodes: make([]strategy.Node, len(members)), Leader: leader, GroupBy: r.GroupBy, MaxGroups: r.MaxGroups}
	in.RolesKnown, in.ServicePrimary = co.serviceRoles() // switchover_plan.go
	if r.Strategy == strategy.Ring {
		if protocol < fsm.CommandProtocol(fsm.CmdRingSet) {
			return api.Plan{}, fmt.Errorf("%w: --strategy ring needs protocol %d, and the cluster speaks %d: upgrade every member to a build that speaks it first",
				fsm.ErrInvalid, fsm.CommandProtocol(fsm.CmdRingSet), protocol)
		}
		co.c.FSM().View(func(s *fsm.State) { in.Ring, _ = RingView(s) }) // ring.go
	}
	voters := 0
	for i, m := range members {
		in.Nodes[i] = strategy.Node{ID: m.ID, Voter: m.Voter, Labels: m.Labels, Addr: hostOf(m.HTTPAddr)}
		if m.Voter {
			voters++
		}
	}
	res, err := strategy.Plan(r.Strategy, in, r.maxParallel)
	if errors.Is(err, strategy.ErrBrokenStrategy) {
		return api.Plan{}, err
	}
	if err != nil {
		return api.Plan{}, fmt.Errorf("%w: %v", fsm.ErrInvalid, err)
	}
	p := api.Plan{TargetVersion: r.TargetVersion, Strategy: r.Strategy, Reason: res.Reason, MaxParallel: r.maxParallel,
		OnFailure: r.OnFailure, Leader: leader, Voters: voters, QuorumBudget: strategy.QuorumBudget(voters), MaxLag: r.MaxLag}
	if in.RolesKnown {
		p.ServicePrimary = in.ServicePrimary
	}
	if res.Groups != nil {
		by, _ := strategy.ParseGroupBy(r.GroupBy) // checked by checkGrouping
		p.Groups, p.GroupBy, p.MaxGroups = groupsOut(res.Groups), by.String(), max(1, r.MaxGroups)
	}
	if r.Strategy == strategy.Ring {
		p.Ring = in.RingOrder()
		for _, m := range members {
			if m.ServiceAddr == "" {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s names no service_addr: no gateway sends it clients", m.ID))
			}
		}
	}
	// What the coordinator will do with a node that already runs the
	// target, said as it will happen: skipped (decideBatch), or, on a
	// cluster that cannot skip yet, run like any other.
	canSkip := protocol >= fsm.CommandProtocol(fsm.CmdStepSkip)
	current := map[string]bool{}
	for _, m := range members {
		current[m.ID] = m.Version == r.TargetVersion
	}
	for _, b := range res.Batches {
		pb := api.PlanBatch{Nodes: b}
		for _, id := range b {
			if canSkip && current[id] {
				pb.Skip = append(pb.Skip, id)
			} else if id == leader && !r.AllowLeaderUpgrade {
				pb.Handoff = true
			}
		}
		p.Batches = append(p.Batches, pb)
	}
	for _, m := range members {
		switch {
		case !current[m.ID]:
		case canSkip:
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s already runs %s: its step is skipped (no hook runs, and no handoff for it)", m.ID, m.Version))
		default:
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s already runs %s, but its step runs every hook: skipping it needs protocol %d, and the cluster speaks %d",
				m.ID, m.Version, fsm.CommandProtocol(fsm.CmdStepSkip), protocol))
		}
	}
	if voters <= 2 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("with %d voter(s), writes stop while a voter upgrades", voters))
	}
	return p, nil
}

// Plan computes what a transaction would do, changing nothing. Any agent
// can answer it from its own state.
func (co *Coordinator) Plan(ctx context.Context, req api.StartRequest) (api.Plan, error) {
	members := co.members()
	r, err := co.parseRequest(req, members)
	if err != nil {
		return api.Plan{}, err
	}
	return co.plan(r, members, co.leaderHint(), co.protocol())
}

// protocol is the cluster's active protocol version as this agent knows it.
func (co *Coordinator) protocol() int {
	var v int
	co.c.FSM().View(func(s *fsm.State) { v = s.ProtocolVersion })
	return v
}

// members returns a copy of the catalogue sorted by id. It copies nothing
// else: the transaction history can be much larger.
func (co *Coordinator) members() []fsm.Member {
	var members []fsm.Member
	co.c.FSM().View(func(s *fsm.State) { members = s.MemberList() })
	return members
}

// txn returns a copy of the transaction id, or nil.
func (co *Coordinator) txn(id string) *fsm.Txn {
	var t *fsm.Txn
	co.c.FSM().View(func(s *fsm.State) { t = s.Txn(id) })
	return t
}

// leaderHint is the leader's id as this agent knows it, or "" when it
// knows none.
func (co *Coordinator) leaderHint() string {
	id, _ := co.c.Leader()
	return id
}

// Start validates the request, fixes the order of the steps and commits a
// new transaction (leader only).
func (co *Coordinator) Start(ctx context.Context, req api.StartRequest) (*fsm.Txn, error) {
	// Judge "already active" on a state holding every committed entry: a
	// leader just elected may not have applied them yet.
	if err := co.c.Barrier(ctx); err != nil {
		return nil, fmt.Errorf("start: barrier: %w", err)
	}
	var active error
	co.c.FSM().View(func(s *fsm.State) {
		if a := s.ActiveTxn(); a != nil {
			active = fmt.Errorf("%w: transaction %s is already %s; abort it or wait for it to end", fsm.ErrConflict, a.ID, a.State)
		}
	})
	if active != nil {
		return nil, active
	}
	members := co.members()
	r, err := co.parseRequest(req, members)
	if err != nil {
		return nil, err
	}
	p, err := co.plan(r, members, co.c.ID(), co.protocol())
	if err != nil {
		return nil, err
	}
	// The state machine bounds the steps running at once by MaxParallel:
	// for grouped, max-parallel counts per group, so a batch holds up to
	// max-parallel nodes of each of max-groups groups.
	maxParallel := r.maxParallel * max(1, p.MaxGroups)
	if r.storedArtifact != "" {
		r.ArtifactSHA256 = r.storedArtifact
	}
	t := fsm.Txn{ID: newTxnID(co.opts.Now()), TargetVersion: r.TargetVersion, ArtifactURL: r.ArtifactURL,
		ArtifactSHA256: r.ArtifactSHA256, Strategy: r.Strategy, MaxParallel: maxParallel, OnFailure: r.OnFailure,
		StepTimeout: fsm.Duration(r.stepTimeout), ProgressDeadline: fsm.Duration(r.progressDeadline),
		AllowLeaderUpgrade: r.AllowLeaderUpgrade, LeaderAtStart: co.c.ID(), MaxLag: r.MaxLag, Ring: p.Ring,
		Groups: groupsIn(p.Groups), ArtifactStored: r.storedArtifact != ""}
	for i, b := range p.Batches {
		for _, id := range b.Nodes {
			t.Steps = append(t.Steps, fsm.Step{Node: id, Batch: i})
		}
	}
	var invalid error
	co.c.FSM().View(func(s *fsm.State) { invalid = s.ValidateTxn(t) })
	if invalid != nil {
		return nil, invalid
	}
	if _, err := co.c.Apply(ctx, fsm.CmdTxnStart, fsm.TxnStart{Txn: t}); err != nil {
		return nil, err
	}
	co.log.Info("transaction started", "txn", t.ID, "target", t.TargetVersion, "strategy", t.Strategy,
		"max_parallel", t.MaxParallel, "batches", len(p.Batches))
	return co.txn(t.ID), nil
}

func newTxnID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "t-" + now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// Control pauses, resumes, retries or aborts a transaction (leader only).
// A retry of a rollback-failed transaction retries its rollback, or, with
// req.Forward, upgrades its nodes again (txn.recover); a retry of a failed
// one runs its failed steps again (txn.retry).
func (co *Coordinator) Control(ctx context.Context, id, action string, req api.ControlRequest) (*fsm.Txn, error) {
	var (
		typ  fsm.CommandType
		body any = fsm.TxnControl{TxnID: id}
	)
	switch action {
	case api.ActionPause:
		typ = fsm.CmdTxnPause
	case api.ActionResume:
		typ = fsm.CmdTxnResume
	case api.ActionRetry:
		typ = fsm.CmdTxnRetry
		if t := co.txn(id); t != nil && t.State == fsm.TxnRollbackFailed {
			typ, body = fsm.CmdTxnRecover, fsm.TxnRecover{TxnID: id, Rollback: !req.Forward}
		}
	case api.ActionAbort:
		typ, body = fsm.CmdTxnAbort, fsm.TxnAbort{TxnID: id, Rollback: req.Rollback}
	default:
		return nil, fmt.Errorf("%w: unknown action %q", fsm.ErrInvalid, action)
	}
	if _, err := co.c.Apply(ctx, typ, body); err != nil {
		return nil, err
	}
	co.log.Info("transaction "+action, "txn", id, "rollback", req.Rollback, "forward", req.Forward)
	return co.txn(id), nil
}

// Notice commits a node's completion notice (leader only). Whatever the
// transaction makes of it, what the node says it now runs reaches the
// catalogue (see reportNotice): a notice that comes too late for its step
// (failed at its deadline, aborted) is refused as stale, but the version
// it carries is recorded with member.report. A report that cannot be
// committed for want of a leader fails the notice, so that its node sends
// it again.
func (co *Coordinator) Notice(ctx context.Context, n api.Notice) error {
	var err error
	switch n.State {
	case api.StepDone:
		_, err = co.c.Apply(ctx, fsm.CmdStepComplete, fsm.StepComplete{TxnID: n.TxnID, Node: n.Node, Attempt: n.Attempt, Version: n.Version})
	case api.StepFailed:
		_, err = co.c.Apply(ctx, fsm.CmdStepFail, fsm.StepFail{TxnID: n.TxnID, Node: n.Node, Attempt: n.Attempt,
			Error: fsm.ClipReason(orUnknown(n.Error))})
	default:
		return fmt.Errorf("%w: notice state %q: want done or failed", fsm.ErrInvalid, n.State)
	}
	if err == nil {
		co.log.Info("completion notice committed", "txn", n.TxnID, "node", n.Node, "attempt", n.Attempt, "state", n.State)
	}
	if err != nil && !errors.Is(err, fsm.ErrStale) {
		return err
	}
	if rerr := co.reportNotice(ctx, n); rerr != nil && !isRejection(rerr) {
		return rerr
	}
	return err
}

// reportNotice records in the catalogue the version notice n says its node
// runs, when n is the latest word about that node and the catalogue says
// otherwise (see NoticeReport).
func (co *Coordinator) reportNotice(ctx context.Context, n api.Notice) error {
	var (
		report fsm.MemberReport
		ok     bool
	)
	co.c.FSM().View(func(s *fsm.State) { report, ok = NoticeReport(s, n) })
	if !ok {
		return nil
	}
	if _, err := co.c.Apply(ctx, fsm.CmdMemberReport, report); err != nil {
		co.log.Warn("version from a completion notice not recorded", "txn", n.TxnID, "node", n.Node, "attempt", n.Attempt,
			"version", n.Version, "error", err)
		return err
	}
	co.log.Info("version from a completion notice recorded", "txn", n.TxnID, "node", n.Node, "attempt", n.Attempt,
		"state", n.State, "version", n.Version)
	return nil
}

// NoticeReport returns the member.report that records, from notice n, the
// version n's node now runs, and whether one is due: n carries a valid
// version that the catalogue does not hold, and n is the latest word about
// its node, that is, no later attempt (of n's transaction, or of any later
// one) was begun on the node. The transaction's decision about n's step is
// not touched. It reads s only.
func NoticeReport(s *fsm.State, n api.Notice) (fsm.MemberReport, bool) {
	m, ok := s.Members[n.Node]
	if !ok || n.Version == "" || n.Version == m.Version || fsm.ValidateVersion(n.Version) != nil {
		return fsm.MemberReport{}, false
	}
	t, ok := s.Txns[n.TxnID]
	if !ok {
		return fsm.MemberReport{}, false
	}
	if st := t.Step(n.Node); st == nil || n.Attempt == 0 || st.Attempt != n.Attempt {
		return fsm.MemberReport{}, false
	}
	later := false
	for _, id := range s.TxnOrder {
		if later {
			if st := s.Txns[id].Step(n.Node); st != nil && st.Attempt > 0 {
				return fsm.MemberReport{}, false
			}
		}
		later = later || id == n.TxnID
	}
	return fsm.MemberReport{ID: n.Node, Version: n.Version, Protocol: m.Protocol}, true
}

// isRejection reports whether err is the state machine's refusal of a
// command, rather than a failure to have it decided.
func isRejection(err error) bool {
	return errors.Is(err, fsm.ErrInvalid) || errors.Is(err, fsm.ErrConflict) ||
		errors.Is(err, fsm.ErrNotFound) || errors.Is(err, fsm.ErrStale)
}

func orUnknown(s string) string {
	if s == "" {
		return "failed without an error message"
	}
	return s
}
