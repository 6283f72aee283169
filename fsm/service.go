package fsm

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The service's roles and its switch-over (docs/switchover.md). Everything
// here is protocol 3: the commands are listed in commandProtocol, and a
// transaction's MaxLag is kept only once the cluster speaks protocol 3.

// Service-role commands (protocol 3).
const (
	// CmdServiceRoles records what the members' role hooks said, and so
	// the service's primary as Baton knows it.
	CmdServiceRoles CommandType = "service.roles"
	// CmdSwitchoverBegin records the candidate chosen to take over as the
	// service's primary before the old primary's step.
	CmdSwitchoverBegin CommandType = "switchover.begin"
	// CmdSwitchoverPhase records a phase of a switch-over as reached; the
	// committed phase makes the candidate the recorded primary.
	CmdSwitchoverPhase CommandType = "switchover.phase"
	// CmdSwitchoverFail records a failed switch-over, which the
	// transaction's failure policy then handles.
	CmdSwitchoverFail CommandType = "switchover.fail"
)

// Roles of a member's service.
const (
	// RolePrimary is the service's primary: it takes the writes.
	RolePrimary = "primary"
	// RoleReplica is any other member with a role hook.
	RoleReplica = "replica"
	// RoleNone, in ServiceRoles only, says the member has no role hook; the
	// member's recorded Role is then "".
	RoleNone = "none"
)

// Service is what the state records of the service's primary.
type Service struct {
	// Primary is the member recorded as the service's primary, or "" when
	// none is known. The member holds Role RolePrimary; no other does.
	Primary string `json:"primary,omitempty"`
	// Since is when Primary was recorded (the leader's clock).
	Since time.Time `json:"since,omitzero"`
	// Switched is the index of the last switch-over command applied: roles
	// observed before it are stale.
	Switched uint64 `json:"switched,omitempty"`
}

// ServicePrimary returns the member recorded as the service's primary, or
// "" when none is (or the member has left since).
func (s *State) ServicePrimary() string {
	id := s.Service.Primary
	if m, ok := s.Members[id]; id == "" || !ok || m.Role != RolePrimary {
		return ""
	}
	return id
}

// RolesKnown reports whether any member has a recorded role: some node of
// the cluster has a role hook, and the primary-aware strategies order by
// the service's primary rather than Baton's leader.
func (s *State) RolesKnown() bool {
	if s.ServicePrimary() != "" {
		return true
	}
	for _, m := range s.Members {
		if m.Role != "" {
			return true
		}
	}
	return false
}

// ServiceRoles is the leader's record of what the members' role hooks said
// (protocol 3). Roles holds every member that answered: RolePrimary,
// RoleReplica or RoleNone; the others keep their recorded role. Primary
// is the service's primary from now on, or "": a member Roles names
// RolePrimary, or the primary already recorded (its hook did not answer).
// ObservedAt is the state index the leader had read when it began asking:
// roles observed before a switch-over command are refused as stale, since
// the switch-over may have moved the primary since.
type ServiceRoles struct {
	Primary    string            `json:"primary"`
	Roles      map[string]string `json:"roles,omitempty"`
	ObservedAt uint64            `json:"observed_at"`
}

// SwitchPhase is how far a switch-over has come.
type SwitchPhase string

// Switch-over phases, in order; failed ends one early.
const (
	// SwitchChosen: the candidate is chosen; the old primary's demote is
	// next.
	SwitchChosen SwitchPhase = "chosen"
	// SwitchDemoted: the old primary is demoted (or has no demote hook);
	// the candidate's lag check and promote are next.
	SwitchDemoted SwitchPhase = "demoted"
	// SwitchPromoted: the candidate was promoted (or already said primary);
	// the confirmation by the role hooks is next.
	SwitchPromoted SwitchPhase = "promoted"
	// SwitchCommitted: the role hooks confirmed it; the candidate is the
	// recorded primary. Follow is next.
	SwitchCommitted SwitchPhase = "committed"
	// SwitchDone: follow ran on the other live nodes; the old primary's
	// step may begin.
	SwitchDone SwitchPhase = "done"
	// SwitchFailed: the switch-over failed before it was committed.
	SwitchFailed SwitchPhase = "failed"
)

// switchOrder lists the phases a switch-over passes through.
var switchOrder = []SwitchPhase{SwitchChosen, SwitchDemoted, SwitchPromoted, SwitchCommitted, SwitchDone}

// InProgress reports whether a switch-over in phase p has begun and not
// ended.
func (p SwitchPhase) InProgress() bool { return p != SwitchDone && p != SwitchFailed && p != "" }

// next is the phase after p, or "" after the last.
func (p SwitchPhase) next() SwitchPhase {
	i := slices.Index(switchOrder, p)
	if i < 0 || i+1 >= len(switchOrder) {
		return ""
	}
	return switchOrder[i+1]
}

// Switchover is one switch-over of the service's primary, before the old
// primary's step. A transaction keeps every switch-over it ran, oldest
// first; only the last can be in progress. The state machine never edits
// one in place (it replaces the transaction's slice), so copies of the
// state share nothing that changes.
type Switchover struct {
	// OldPrimary is the primary whose step waits for the switch-over.
	OldPrimary string `json:"old_primary"`
	// Candidate is the replica chosen to take over.
	Candidate string      `json:"candidate"`
	Phase     SwitchPhase `json:"phase"`
	// Diagnostic is the old primary's health when the switch-over began:
	// "healthy", or its health hook's failure (S5's diagnostic).
	Diagnostic string `json:"diagnostic,omitempty"`
	// CandidateLag is the candidate's lag when it was chosen; MaxLag the
	// transaction's limit it was held to.
	CandidateLag uint64    `json:"candidate_lag"`
	MaxLag       uint64    `json:"max_lag"`
	StartedAt    time.Time `json:"started_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Note says what else happened (nodes that missed follow).
	Note string `json:"note,omitempty"`
	// Error says why it failed.
	Error string `json:"error,omitempty"`
}

// CurrentSwitchover returns the transaction's switch-over in progress, or
// nil.
func (t *Txn) CurrentSwitchover() *Switchover {
	if n := len(t.Switchovers); n > 0 && t.Switchovers[n-1].Phase.InProgress() {
		return &t.Switchovers[n-1]
	}
	return nil
}

// setSwitchover replaces the last switch-over with sw, copying the slice so
// that a copy of the state taken earlier keeps its own.
func (t *Txn) setSwitchover(sw Switchover) {
	out := slices.Clone(t.Switchovers)
	out[len(out)-1] = sw
	t.Switchovers = out
}

// SwitchoverBegin records the candidate chosen to take over from the
// service's primary Node before Node's step (protocol 3). CandidateLag is
// the lag the candidate's lag hook printed; Diagnostic the old primary's
// health.
type SwitchoverBegin struct {
	TxnID        string `json:"txn_id"`
	Node         string `json:"node"`
	Candidate    string `json:"candidate"`
	Diagnostic   string `json:"diagnostic,omitempty"`
	CandidateLag uint64 `json:"candidate_lag"`
}

// SwitchoverPhase records that the switch-over from Node to Primary (its
// candidate) reached Phase (protocol 3). Note is kept with the done phase.
type SwitchoverPhase struct {
	TxnID   string      `json:"txn_id"`
	Node    string      `json:"node"`
	Primary string      `json:"primary"`
	Phase   SwitchPhase `json:"phase"`
	Note    string      `json:"note,omitempty"`
}

// SwitchoverFail records that the switch-over from Node to Primary failed
// before it was committed (protocol 3).
type SwitchoverFail struct {
	TxnID   string `json:"txn_id"`
	Node    string `json:"node"`
	Primary string `json:"primary"`
	Error   string `json:"error"`
}

// startService sets a new transaction's service fields: no switch-over yet,
// and MaxLag only once the cluster speaks protocol 3, so that every build
// reads the same transaction from the same entry (an older build drops the
// field it does not know).
func (s *State) startService(t *Txn) {
	t.Switchovers = nil
	if s.ProtocolVersion < CommandProtocol(CmdSwitchoverBegin) {
		t.MaxLag = 0
	}
}

// switchingTxn returns the active transaction's switch-over in progress, or
// nil.
func (s *State) switchingTxn() (*Txn, *Switchover) {
	t := s.ActiveTxn()
	if t == nil {
		return nil, nil
	}
	return t, t.CurrentSwitchover()
}

// checkNotPrimary refuses to begin the upgrade of the recorded primary: its
// switch-over comes first (I10). A switch-over done for it in this
// transaction has made another member the primary, so this only refuses a
// step the coordinator must not begin yet.
func (s *State) checkNotPrimary(node string) error {
	if s.ProtocolVersion < CommandProtocol(CmdSwitchoverBegin) || node != s.ServicePrimary() {
		return nil
	}
	return fmt.Errorf("%w: %s is the service's primary: its switch-over comes before its step", ErrConflict, node)
}

func validRole(r string) bool { return r == RolePrimary || r == RoleReplica || r == RoleNone }

func (s *State) applyServiceRoles(now time.Time, c ServiceRoles) error {
	if t, sw := s.switchingTxn(); sw != nil {
		return fmt.Errorf("%w: transaction %s is switching the service's primary from %s to %s: the switch-over records the roles",
			ErrConflict, t.ID, sw.OldPrimary, sw.Candidate)
	}
	if c.ObservedAt < s.Service.Switched {
		return fmt.Errorf("%w: roles observed at index %d, before the switch-over command at index %d", ErrStale, c.ObservedAt, s.Service.Switched)
	}
	ids := make([]string, 0, len(c.Roles))
	for id, role := range c.Roles {
		if _, ok := s.Members[id]; !ok {
			return fmt.Errorf("%w: member %q", ErrNotFound, id)
		}
		if !validRole(role) {
			return fmt.Errorf("%w: role %q of %s: want primary, replica or none", ErrInvalid, role, id)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if c.Roles[id] == RolePrimary && id != c.Primary {
			return fmt.Errorf("%w: %s says primary but the record names %q: one primary at most", ErrInvalid, id, c.Primary)
		}
	}
	if c.Primary != "" {
		if _, ok := s.Members[c.Primary]; !ok {
			return fmt.Errorf("%w: member %q", ErrNotFound, c.Primary)
		}
		role, answered := c.Roles[c.Primary]
		if answered && role != RolePrimary {
			return fmt.Errorf("%w: %s is named primary but says %s", ErrInvalid, c.Primary, role)
		}
		if !answered && c.Primary != s.ServicePrimary() {
			return fmt.Errorf("%w: %s is named primary without saying so, and is not the recorded primary", ErrInvalid, c.Primary)
		}
	}
	old := s.ServicePrimary()
	if old != "" && old != c.Primary {
		s.setRole(old, RoleReplica)
	}
	for id, role := range c.Roles {
		if role == RoleNone {
			role = ""
		}
		s.setRole(id, role)
	}
	if c.Primary != "" {
		s.setRole(c.Primary, RolePrimary)
	}
	if c.Primary != old {
		s.Service.Primary, s.Service.Since = c.Primary, now
		if c.Primary == "" {
			s.Service.Since = time.Time{}
		}
	}
	return nil
}

func (s *State) setRole(id, role string) {
	if m, ok := s.Members[id]; ok {
		m.Role = role
		s.Members[id] = m
	}
}

// switchTxn finds the transaction of a switch-over command: it must exist
// and be active.
func (s *State) switchTxn(id string) (*Txn, error) {
	t, ok := s.Txns[id]
	if !ok {
		return nil, fmt.Errorf("%w: transaction %q", ErrNotFound, id)
	}
	if s.Active != id {
		return nil, fmt.Errorf("%w: transaction %s is %s, not active", ErrStale, id, t.State)
	}
	return t, nil
}

func (s *State) applySwitchoverBegin(now time.Time, c SwitchoverBegin) error {
	t, err := s.switchTxn(c.TxnID)
	if err != nil {
		return err
	}
	if t.State != TxnRunning {
		return fmt.Errorf("%w: transaction %s is %s: no switch-over may begin", ErrStale, t.ID, t.State)
	}
	if sw := t.CurrentSwitchover(); sw != nil {
		return fmt.Errorf("%w: the switch-over from %s to %s is in progress", ErrConflict, sw.OldPrimary, sw.Candidate)
	}
	if p := s.ServicePrimary(); c.Node != p {
		return fmt.Errorf("%w: %s is not the service's recorded primary (%q is)", ErrStale, c.Node, p)
	}
	st := t.Step(c.Node)
	cur := t.CurrentBatch()
	if st == nil || st.State != StepPending || st.Batch != cur {
		return fmt.Errorf("%w: %s has no pending step in the current batch of %s", ErrConflict, c.Node, t.ID)
	}
	if _, ok := s.Members[c.Candidate]; !ok || c.Candidate == c.Node {
		return fmt.Errorf("%w: candidate %q: want another member", ErrInvalid, c.Candidate)
	}
	if cs := t.Step(c.Candidate); cs != nil && cs.Batch == cur && cs.State != StepDone {
		return fmt.Errorf("%w: candidate %s is in the batch about to upgrade", ErrConflict, c.Candidate)
	}
	if c.CandidateLag > t.MaxLag {
		return fmt.Errorf("%w: candidate %s lags by %d, over the limit %d", ErrInvalid, c.Candidate, c.CandidateLag, t.MaxLag)
	}
	s.Service.Switched = s.Index
	t.Switchovers = append(slices.Clone(t.Switchovers), Switchover{OldPrimary: c.Node, Candidate: c.Candidate,
		Phase: SwitchChosen, Diagnostic: c.Diagnostic, CandidateLag: c.CandidateLag, MaxLag: t.MaxLag,
		StartedAt: now, UpdatedAt: now})
	t.UpdatedAt = now
	return nil
}

// switchInProgress finds the switch-over a phase or fail command names: the
// transaction's current one, from node to primary.
func (s *State) switchInProgress(txnID, node, primary string) (*Txn, Switchover, error) {
	t, err := s.switchTxn(txnID)
	if err != nil {
		return nil, Switchover{}, err
	}
	if len(t.Switchovers) == 0 {
		return nil, Switchover{}, fmt.Errorf("%w: transaction %s has no switch-over", ErrStale, t.ID)
	}
	sw := t.Switchovers[len(t.Switchovers)-1]
	if sw.OldPrimary != node || sw.Candidate != primary {
		return nil, Switchover{}, fmt.Errorf("%w: the switch-over of %s is from %s to %s, not from %s to %s",
			ErrStale, t.ID, sw.OldPrimary, sw.Candidate, node, primary)
	}
	return t, sw, nil
}

func (s *State) applySwitchoverPhase(now time.Time, c SwitchoverPhase) error {
	t, sw, err := s.switchInProgress(c.TxnID, c.Node, c.Primary)
	if err != nil {
		return err
	}
	if !slices.Contains(switchOrder[1:], c.Phase) {
		return fmt.Errorf("%w: switch-over phase %q: want demoted, promoted, committed or done", ErrInvalid, c.Phase)
	}
	if c.Phase == sw.Phase {
		return nil // a repeat: the proposer could not know it committed
	}
	if !sw.Phase.InProgress() || c.Phase != sw.Phase.next() {
		return fmt.Errorf("%w: the switch-over from %s to %s is %s; %q is not its next phase", ErrStale, sw.OldPrimary, sw.Candidate, sw.Phase, c.Phase)
	}
	if c.Phase == SwitchCommitted {
		if _, ok := s.Members[sw.Candidate]; !ok {
			return fmt.Errorf("%w: candidate %s is no longer a member", ErrConflict, sw.Candidate)
		}
		if old := s.ServicePrimary(); old != "" && old != sw.Candidate {
			s.setRole(old, RoleReplica)
		}
		s.setRole(sw.OldPrimary, RoleReplica)
		s.setRole(sw.Candidate, RolePrimary)
		s.Service.Primary, s.Service.Since = sw.Candidate, now
	}
	s.Service.Switched = s.Index
	sw.Phase, sw.UpdatedAt = c.Phase, now
	if c.Phase == SwitchDone {
		sw.Note = c.Note
	}
	t.setSwitchover(sw)
	t.UpdatedAt = now
	if c.Phase == SwitchDone {
		t.LastProgressAt = now
	}
	return nil
}

func (s *State) applySwitchoverFail(now time.Time, c SwitchoverFail) error {
	t, sw, err := s.switchInProgress(c.TxnID, c.Node, c.Primary)
	if err != nil {
		return err
	}
	if sw.Phase == SwitchFailed && sw.Error == c.Error {
		return nil // a repeat
	}
	if !sw.Phase.InProgress() || sw.Phase == SwitchCommitted {
		return fmt.Errorf("%w: the switch-over from %s to %s is %s: it can no longer fail", ErrStale, sw.OldPrimary, sw.Candidate, sw.Phase)
	}
	if strings.TrimSpace(c.Error) == "" {
		return fmt.Errorf("%w: a failed switch-over needs an error", ErrInvalid)
	}
	sw.Phase, sw.Error, sw.UpdatedAt = SwitchFailed, c.Error, now
	t.setSwitchover(sw)
	s.Service.Switched = s.Index
	t.UpdatedAt = now
	reason := fmt.Sprintf("switch-over of the service's primary from %s to %s failed: %s", sw.OldPrimary, sw.Candidate, c.Error)
	switch {
	case t.State == TxnRunning || t.State == TxnPaused:
		if t.OnFailure == OnFailureRollback {
			t.State, t.RollbackRequested, t.Reason = TxnAborting, true, reason+"; rolling back"
		} else {
			t.State, t.Reason = TxnFailed, reason
		}
	default:
		t.Reason = joinReason(t.Reason, reason)
	}
	return nil
}
