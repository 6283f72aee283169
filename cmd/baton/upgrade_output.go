package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// stepErrorWidth bounds the ERROR column, so one long hook error does not
// wreck the table; `status --json` has the whole message.
const stepErrorWidth = 60

// writePlan prints a plan for humans: the policy with the rule the strategy
// followed (agents that predate the reason send none), the quorum budget,
// the batches in order with the leadership handoff, then the warnings.
func writePlan(w io.Writer, p api.Plan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "target\t%s\n", p.TargetVersion)
	fmt.Fprintf(tw, "strategy\t%s\n", p.Strategy)
	if p.Reason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", p.Reason)
	}
	fmt.Fprintf(tw, "max parallel\t%d\n", p.MaxParallel)
	fmt.Fprintf(tw, "on failure\t%s\n", p.OnFailure)
	fmt.Fprintf(tw, "leader\t%s\n", orDash(p.Leader))
	if p.ServicePrimary != "" || p.MaxLag > 0 {
		fmt.Fprintf(tw, "service primary\t%s (max lag %d)\n", orDash(p.ServicePrimary), p.MaxLag)
	}
	if len(p.Ring) > 0 {
		fmt.Fprintf(tw, "ring\t%s -> %s (never two neighbours at once)\n", strings.Join(p.Ring, " -> "), p.Ring[0])
	}
	fmt.Fprintf(tw, "voters\t%d: quorum budget of at most %d voter(s) down at once\n", p.Voters, p.QuorumBudget)
	if len(p.Groups) > 0 {
		fmt.Fprintf(tw, "groups\t%d by %s, %d at once, max parallel %d per group\n", len(p.Groups), p.GroupBy, p.MaxGroups, p.MaxParallel)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeGroups(w, p.Groups); err != nil { // groups_output.go
		return err
	}
	if len(p.Batches) == 0 {
		fmt.Fprintln(w, "no batches: there is nothing to upgrade")
	}
	for i, b := range p.Batches {
		fmt.Fprintf(w, "batch %d: %s\n", i+1, strings.Join(b.Nodes, ", "))
		if b.Handoff {
			fmt.Fprintf(w, "  hand leadership off from %s first\n", orDash(p.Leader))
		}
		if len(b.Skip) > 0 {
			fmt.Fprintf(w, "  skip %s: already at %s, no hook runs\n", strings.Join(b.Skip, ", "), p.TargetVersion)
		}
	}
	for _, warning := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	return nil
}

// writeTxn prints a transaction for humans: its fields and what its nodes
// run (result), a table of its steps, then the earlier attempts of each.
func writeTxn(w io.Writer, t api.Txn) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "transaction\t%s\n", t.ID)
	fmt.Fprintf(tw, "state\t%s\n", t.State)
	fmt.Fprintf(tw, "target\t%s\n", t.TargetVersion)
	if t.ArtifactURL != "" {
		fmt.Fprintf(tw, "artifact\t%s (sha256 %s)\n", t.ArtifactURL, t.ArtifactSHA256)
	}
	if t.ArtifactStored {
		fmt.Fprintf(tw, "artifact\t%s%s (held by the cluster)\n", api.ArtifactRefPrefix, t.ArtifactSHA256)
	}
	fmt.Fprintf(tw, "strategy\t%s\n", t.Strategy)
	fmt.Fprintf(tw, "max parallel\t%d\n", t.MaxParallel)
	fmt.Fprintf(tw, "on failure\t%s\n", t.OnFailure)
	fmt.Fprintf(tw, "protocol\t%d\n", t.ProtocolVersion)
	if t.MaxLag > 0 {
		fmt.Fprintf(tw, "max lag\t%d\n", t.MaxLag)
	}
	if len(t.Ring) > 0 {
		fmt.Fprintf(tw, "ring\t%s -> %s\n", strings.Join(t.Ring, " -> "), t.Ring[0])
	}
	if t.RollbackRequested {
		fmt.Fprintf(tw, "rollback\trequested\n")
	}
	if t.Reason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", t.Reason)
	}
	fmt.Fprintf(tw, "created\t%s\n", formatTime(t.CreatedAt))
	if !t.FinishedAt.IsZero() {
		fmt.Fprintf(tw, "finished\t%s\n", formatTime(t.FinishedAt))
	}
	fmt.Fprintf(tw, "result\t%s\n", result(t))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := writeSteps(w, t.Steps); err != nil {
		return err
	}
	if err := writeEarlierAttempts(w, t.Steps); err != nil {
		return err
	}
	if len(t.Groups) > 0 {
		fmt.Fprintln(w)
		if err := writeGroups(w, t.Groups); err != nil { // groups_output.go
			return err
		}
	}
	return writeSwitchovers(w, t) // service_output.go
}

// stepState is a step's state in the table: a skipped step says so, and a
// running one names the hook its node runs, when a live read asked.
func stepState(s api.Step) string {
	switch {
	case s.Skipped && s.State == api.StepDone:
		return "skipped"
	case s.State == api.StepRunning && s.Hook != "":
		return "running:" + s.Hook
	}
	return string(s.State)
}

func writeSteps(w io.Writer, steps []api.Step) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tBATCH\tSTATE\tATTEMPT\tFROM\tTO\tERROR")
	for _, s := range steps {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\n", s.Node, s.Batch+1, stepState(s), s.Attempt,
			orDash(s.FromVersion), orDash(s.ToVersion), truncate(oneLine(s.Error), stepErrorWidth))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range steps {
		if s.Waiting != "" {
			if _, err := fmt.Fprintf(w, "%s waits: %s\n", s.Node, s.Waiting); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeEarlierAttempts lists the attempts of each step before its current
// one, with how each ended: the history a retry or a rollback would
// otherwise hide. Nothing is printed when no step has one.
func writeEarlierAttempts(w io.Writer, steps []api.Step) error {
	var rows []string
	for _, s := range steps {
		for _, a := range s.Attempts {
			if a.Attempt == s.Attempt {
				continue
			}
			kind := "upgrade"
			if a.Rollback {
				kind = "rollback"
			}
			rows = append(rows, fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t%s\n", s.Node, a.Attempt, kind, a.State,
				formatTime(a.FinishedAt), truncate(oneLine(a.Error), stepErrorWidth)))
		}
	}
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "earlier attempts:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tATTEMPT\tKIND\tSTATE\tFINISHED\tERROR")
	for _, r := range rows {
		fmt.Fprint(tw, r)
	}
	return tw.Flush()
}

// result says what the transaction's nodes run now, as far as its steps
// tell: "3/3 upgraded (1 already was)", or, for one that was aborted, "1
// left upgraded, 2 rolled back".
func result(t api.Txn) string {
	var upgraded, skipped, rolledBack, failed, rollbackFailed, running, pending int
	for _, s := range t.Steps {
		switch s.State {
		case api.StepDone:
			upgraded++
			if s.Skipped {
				skipped++
			}
		case api.StepRolledBack:
			rolledBack++
		case api.StepFailed:
			if s.Rollback {
				rollbackFailed++
			} else {
				failed++
			}
		case api.StepRunning:
			running++
		case api.StepPending:
			pending++
		}
	}
	var parts []string
	add := func(n int, format string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf(format, n))
		}
	}
	abandoned := t.State == api.TxnAborted || t.State == api.TxnAborting || t.State == api.TxnRollbackFailed
	switch {
	case abandoned && upgraded > 0:
		parts = append(parts, fmt.Sprintf("%d left upgraded", upgraded))
	case !abandoned:
		parts = append(parts, fmt.Sprintf("%d/%d upgraded", upgraded, len(t.Steps)))
	}
	if skipped > 0 && len(parts) > 0 {
		parts[len(parts)-1] += fmt.Sprintf(" (%d already was)", skipped)
	}
	add(rolledBack, "%d rolled back")
	add(rollbackFailed, "%d rollback failed")
	add(failed, "%d failed")
	add(running, "%d running")
	if pending > 0 {
		if abandoned {
			add(pending, "%d not upgraded")
		} else {
			add(pending, "%d pending")
		}
	}
	if len(parts) == 0 {
		return "nothing ran"
	}
	return strings.Join(parts, ", ")
}

// listReasonWidth bounds the REASON column of upgrade list.
const listReasonWidth = 50

// writeTxnList prints the transactions kept, one a line: when each ended,
// what its nodes run (RESULT) and why it ended so (REASON).
func writeTxnList(w io.Writer, txns []api.Txn) error {
	if len(txns) == 0 {
		_, err := fmt.Fprintln(w, "no upgrade transaction has run on this cluster")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tTARGET\tSTRATEGY\tCREATED\tFINISHED\tRESULT\tREASON")
	for _, t := range txns {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.State, t.TargetVersion, t.Strategy,
			formatTime(t.CreatedAt), formatTime(t.FinishedAt), result(t), orDash(truncate(oneLine(t.Reason), listReasonWidth)))
	}
	return tw.Flush()
}

// stepLine describes a step's new state in one line of a watch log, such as
// "n2 running (attempt 1)" or "n2 done 1.0.0 -> 2.0.0".
func stepLine(s api.Step) string {
	switch s.State {
	case api.StepRunning:
		if s.Rollback {
			return fmt.Sprintf("%s rolling back to %s (attempt %d)", s.Node, orDash(s.PriorVersion), s.Attempt)
		}
		return fmt.Sprintf("%s running (attempt %d)", s.Node, s.Attempt)
	case api.StepDone:
		return fmt.Sprintf("%s done %s -> %s", s.Node, orDash(s.FromVersion), orDash(s.ToVersion))
	case api.StepFailed:
		return fmt.Sprintf("%s failed: %s", s.Node, orDash(oneLine(s.Error)))
	case api.StepRolledBack:
		return fmt.Sprintf("%s rolled back to %s", s.Node, orDash(s.PriorVersion))
	}
	return fmt.Sprintf("%s %s", s.Node, s.State)
}

// txnLine describes a transaction's new state in one line of a watch log.
func txnLine(t api.Txn) string {
	line := fmt.Sprintf("transaction %s is now %s", t.ID, t.State)
	if t.Reason != "" {
		line += ": " + oneLine(t.Reason)
	}
	return line
}

// progressDescription names the state, the batch, the running steps with
// the hook each runs (when known) and, when elapsed is positive, how long
// the transaction has run, as in "running · batch 2/3 · n3 (attempt 1,
// install) · 1m23s".
func progressDescription(t api.Txn, elapsed time.Duration) string {
	parts := []string{string(t.State)}
	if b := t.CurrentBatch(); b >= 0 && !t.State.Terminal() {
		parts = append(parts, fmt.Sprintf("batch %d/%d", b+1, t.Batches()))
	}
	var running []string
	for _, s := range t.Steps {
		if s.State != api.StepRunning {
			continue
		}
		what := fmt.Sprintf("attempt %d", s.Attempt)
		if s.Rollback {
			what = "rollback, " + what
		}
		if s.Hook != "" {
			what += ", " + s.Hook
		}
		running = append(running, fmt.Sprintf("%s (%s)", s.Node, what))
	}
	if len(running) > 0 {
		parts = append(parts, strings.Join(running, ", "))
	}
	if elapsed > 0 {
		parts = append(parts, elapsed.Round(time.Second).String())
	}
	return strings.Join(parts, " · ")
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine folds a multi-line message (a hook's stderr, say) into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// truncate cuts s to at most width runes, marking the cut with "…".
func truncate(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width-1]) + "…"
}
