package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// The service's primary as Baton records it is learned from the role hooks
// by a leader duty (docs/switchover.md, "How the role is learned").

// Role watch intervals.
const (
	// RoleInterval is how often the leader asks the members that have a
	// role hook for their role.
	RoleInterval = 5 * time.Second
	// RoleSweepInterval is how often it asks every member, to find role
	// hooks added to nodes that had none.
	RoleSweepInterval = time.Minute
	// roleSettle is the least time between two probes a change of the
	// state triggers.
	roleSettle = 300 * time.Millisecond
)

// RoleAnswer is one member's answer to the role probe.
type RoleAnswer struct {
	// ID is the member's id.
	ID string
	// Answered is true when its agent answered and its role hook, if it
	// has one, printed a role; false when either did not, which says
	// nothing of its role.
	Answered bool
	// Role is RolePrimary or RoleReplica, or "" for a member without a
	// role hook.
	Role string
}

// LearnRoles decides what to record from the answers of a role probe,
// given each member's recorded role and the recorded primary
// (docs/switchover.md's table): exactly one member saying primary makes it
// the primary; nobody saying primary clears the primary only if the
// recorded one answered; two or more saying primary record nothing and
// are returned as conflict. change is false when the answers agree with
// the record, and the command is then not to be proposed. The command
// holds only the members whose role changed (RoleNone for one without a
// role hook); its ObservedAt is left for the caller.
func LearnRoles(recorded map[string]string, primary string, answers []RoleAnswer) (cmd fsm.ServiceRoles, change bool, conflict []string) {
	var says []string
	answered := map[string]bool{}
	for _, a := range answers {
		if !a.Answered {
			continue
		}
		answered[a.ID] = true
		if a.Role == api.RolePrimary {
			says = append(says, a.ID)
		}
	}
	sortIDs(says)
	if len(says) > 1 {
		return fsm.ServiceRoles{}, false, says
	}
	cmd.Primary = primary
	switch {
	case len(says) == 1:
		cmd.Primary = says[0]
	case answered[primary]:
		cmd.Primary = ""
	}
	roles := map[string]string{}
	for _, a := range answers {
		if !a.Answered || recorded[a.ID] == a.Role {
			continue
		}
		role := a.Role
		if role == "" {
			role = fsm.RoleNone
		}
		roles[a.ID] = role
	}
	if len(roles) > 0 {
		cmd.Roles = roles
	}
	return cmd, len(roles) > 0 || cmd.Primary != primary, nil
}

// roleView is what the role watch reads of the state, under its lock.
type roleView struct {
	index     uint64
	protocol  int
	switching bool
	primary   string
	// roles, addrs and marks are by member; a mark changes when the member
	// restarts into another version or build, or its liveness changes.
	roles, addrs, marks map[string]string
	// progress changes when a step of the active transaction ends.
	progress string
}

func (co *Coordinator) readRoles() roleView {
	v := roleView{roles: map[string]string{}, addrs: map[string]string{}, marks: map[string]string{}}
	co.c.FSM().View(func(s *fsm.State) {
		v.index, v.protocol, v.primary = s.Index, s.ProtocolVersion, s.ServicePrimary()
		for id, m := range s.Members {
			v.roles[id], v.addrs[id] = m.Role, m.HTTPAddr
			mark := m.Version
			if m.Build != nil {
				mark += "/" + m.Build.Version
			}
			if m.Liveness != nil {
				mark += "/" + m.Liveness.Status
			}
			v.marks[id] = mark
		}
		if t := s.ActiveTxn(); t != nil {
			v.switching = t.CurrentSwitchover() != nil
			v.progress = fmt.Sprintf("%s/%d/%d/%d/%d", t.ID, t.Count(fsm.StepDone), t.Count(fsm.StepFailed),
				t.Count(fsm.StepRolledBack), len(t.Switchovers))
		}
	})
	return v
}

// WatchRoles is a leader duty: it asks the members' role hooks for the
// service's roles (every member when it starts and every
// RoleSweepInterval; the members with a role every RoleInterval; at once a
// member whose version, build or liveness changed, and every member with a
// role when a step ends) and commits service.roles when the answers differ from
// the record. It does nothing while the cluster speaks a protocol older
// than 3, and commits nothing while a switch-over is in progress.
func (co *Coordinator) WatchRoles(ctx context.Context) {
	var (
		last             roleView
		nextRoles, sweep time.Time
		lastProbe        time.Time
		conflict         []string
	)
	for {
		changed := co.c.FSM().Changed()
		now := time.Now()
		v := co.readRoles()
		eligible := v.protocol >= fsm.CommandProtocol(fsm.CmdServiceRoles) && !v.switching
		settled := now.Sub(lastProbe) >= roleSettle
		switch {
		case !eligible:
			last = v
		case settled:
			// A change seen before the last probe settled is kept for
			// the next turn: last moves only when this one looks.
			ids := co.rolesToProbe(v, last, now, nextRoles, sweep)
			if !now.Before(sweep) {
				sweep = now.Add(RoleSweepInterval)
			}
			if !now.Before(nextRoles) {
				nextRoles = now.Add(RoleInterval)
			}
			if len(ids) > 0 {
				lastProbe = now
				conflict = co.probeRoles(ctx, v, ids, conflict)
			}
			last = v
		}
		wait := RoleInterval
		if eligible {
			wait = max(min(time.Until(nextRoles), time.Until(sweep)), roleSettle-time.Since(lastProbe), 10*time.Millisecond)
		}
		if !waitChange(ctx, changed, wait) {
			return
		}
	}
}

// rolesToProbe lists the members to ask now: every member when the sweep
// is due; the members with a role when their interval is due or a step
// ended; and each member whose mark changed.
func (co *Coordinator) rolesToProbe(v, last roleView, now, nextRoles, sweep time.Time) []string {
	var ids []string
	for id, role := range v.roles {
		switch {
		case !now.Before(sweep):
		case role != "" && (!now.Before(nextRoles) || v.progress != last.progress):
		case last.marks != nil && v.marks[id] != last.marks[id]:
		default:
			continue
		}
		ids = append(ids, id)
	}
	sortIDs(ids)
	return ids
}

// probeRoles asks the members ids for their role and commits what changed.
// It returns the members that said primary together, and logs such a
// conflict when it differs from the previous one.
func (co *Coordinator) probeRoles(ctx context.Context, v roleView, ids []string, prevConflict []string) []string {
	answers := make([]RoleAnswer, len(ids))
	co.fanOut(len(ids), func(i int) {
		pctx, cancel := context.WithTimeout(ctx, probeCallTimeout)
		defer cancel()
		p, err := co.n.ServiceProbe(pctx, v.addrs[ids[i]], false)
		answers[i] = RoleAnswer{ID: ids[i], Answered: err == nil && p.RoleError == "", Role: p.Role}
	})
	cmd, change, conflict := LearnRoles(v.roles, v.primary, answers)
	if len(conflict) > 0 {
		if !slices.Equal(conflict, prevConflict) {
			co.log.Warn("service reports two primaries; the record stays", "primaries", conflict, "recorded", v.primary)
		}
		return conflict
	}
	if !change {
		return nil
	}
	cmd.ObservedAt = v.index
	if _, err := co.c.Apply(ctx, fsm.CmdServiceRoles, cmd); err != nil {
		if errors.Is(err, fsm.ErrStale) || errors.Is(err, fsm.ErrConflict) {
			co.log.Debug("roles not recorded: a switch-over moved them", "error", err)
		} else {
			co.log.Warn("could not record the service's roles", "error", err)
		}
		return nil
	}
	if cmd.Primary != v.primary {
		co.log.Info("service primary recorded", "primary", cmd.Primary, "was", v.primary)
	}
	return nil
}
