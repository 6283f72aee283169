package checker

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

// I10, the service's primary (docs/switchover.md). The suite's hooks keep a
// fake service whose roles live in files; every change of a role is a
// "role" line of the hook journal (Target: the new role), in the order the
// changes were made, and every promote journals the node's lag as it began
// (a "lag" line). These checkers replay that history: they judge the
// service itself, not what Baton recorded of it.

// roleChanges returns the journal's role changes, oldest first.
func roleChanges(in Input) []procs.HookEvent {
	var out []procs.HookEvent
	for _, h := range in.Hooks {
		if h.Kind == "role" {
			out = append(out, h)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

func primariesOf(roles map[string]string) []string {
	var out []string
	for n, r := range roles {
		if r == api.RolePrimary {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// CheckOnePrimary checks I10's first part: the service never has two
// primaries at once.
func CheckOnePrimary(in Input) Result {
	roles := map[string]string{}
	checked := 0
	for _, h := range roleChanges(in) {
		checked++
		roles[h.Node] = h.Target
		if p := primariesOf(roles); len(p) > 1 {
			return verdict(checked, &Violation{At: h.At, Txn: orEmpty(h.Txn), Nodes: p,
				What: fmt.Sprintf("%s were the service's primary at once (after %s made %s %s)", strings.Join(p, " and "), h.Hook, h.Node, h.Target)})
		}
	}
	res := verdict(checked, nil)
	if checked == 0 {
		res.Note = "the service's roles were never set"
	}
	return res
}

// roleAt is node's role just before at, from the changes.
func roleAt(changes []procs.HookEvent, node string, at time.Time) string {
	role := api.RoleReplica
	for _, h := range changes {
		if !h.At.Before(at) {
			break
		}
		if h.Node == node {
			role = h.Target
		}
	}
	return role
}

// CheckNoPrimaryUpgrade checks I10's second part: no install begins on the
// node that is then the service's primary. It judges the steps begun once
// Baton knew the roles (after the first committed service.roles): before,
// the cluster spoke a protocol older than 3 and ordered by its own leader.
func CheckNoPrimaryUpgrade(in Input) Result {
	known := -1
	begins := map[string]int{}
	for i, e := range in.Commands {
		switch {
		case e.Type == api.EventServiceRoles && known < 0:
			known = i
		case e.Type == api.EventStepBegin && !e.Rollback:
			begins[fmt.Sprintf("%s/%s/%d", e.Txn, e.Node, e.Attempt)] = i
		}
	}
	if known < 0 {
		return Result{Status: Pass, Note: "the roles were never recorded (the cluster never spoke protocol 3)"}
	}
	changes := roleChanges(in)
	checked := 0
	for _, run := range installRuns(in) {
		b, ok := begins[fmt.Sprintf("%s/%s/%d", run.Txn, run.Node, run.Attempt)]
		if !ok || b < known {
			continue
		}
		checked++
		if roleAt(changes, run.Node, run.Began) == api.RolePrimary {
			return verdict(checked, &Violation{At: run.Began, Txn: run.Txn, Nodes: []string{run.Node},
				What: fmt.Sprintf("install of attempt %d began while %s was the service's primary", run.Attempt, run.Node)})
		}
	}
	return verdict(checked, nil)
}

// CheckPromoteLag checks I10's third part: no promote of a replica whose
// lag was over its transaction's --max-lag.
func CheckPromoteLag(in Input) Result {
	final := finalTxns(in)
	checked, unknown := 0, 0
	for _, h := range in.Hooks {
		if h.Kind != "lag" || h.Hook != api.HookPromote {
			continue
		}
		t, ok := final[h.Txn]
		lag, err := strconv.ParseUint(h.Target, 10, 64)
		if !ok || err != nil {
			unknown++
			continue
		}
		checked++
		if lag > t.MaxLag {
			return verdict(checked, &Violation{At: h.At, Txn: h.Txn, Nodes: []string{h.Node},
				What: fmt.Sprintf("%s was promoted with lag %d, over --max-lag %d", h.Node, lag, t.MaxLag)})
		}
	}
	res := verdict(checked, nil)
	if unknown > 0 {
		res.Note = fmt.Sprintf("%d promote(s) of a transaction the final read did not show", unknown)
	}
	return res
}

// orEmpty turns the journal's "-" (no transaction) into "".
func orEmpty(txn string) string {
	if txn == "-" {
		return ""
	}
	return txn
}

// switchoverFail re-enacts a failed switch-over of the service's primary:
// like a failed step, it halts a running or paused transaction (or rolls it
// back, by its policy); an aborting or failed one keeps its state.
func (r *replay) switchoverFail(t *replayTxn) {
	switch {
	case t.state != api.TxnRunning && t.state != api.TxnPaused:
	case t.onFailure == api.OnFailureRollback:
		t.state = api.TxnAborting
	case t.known:
		t.state = api.TxnFailed
	}
}
