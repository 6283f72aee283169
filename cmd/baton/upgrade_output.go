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
	fmt.Fprintf(tw, "voters\t%d: quorum budget of at most %d voter(s) down at once\n", p.Voters, p.QuorumBudget)
	if err := tw.Flush(); err != nil {
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
	}
	for _, warning := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	return nil
}

// writeTxn prints a transaction for humans: its fields, then a table of its
// steps.
func writeTxn(w io.Writer, t api.Txn) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "transaction\t%s\n", t.ID)
	fmt.Fprintf(tw, "state\t%s\n", t.State)
	fmt.Fprintf(tw, "target\t%s\n", t.TargetVersion)
	if t.ArtifactURL != "" {
		fmt.Fprintf(tw, "artifact\t%s (sha256 %s)\n", t.ArtifactURL, t.ArtifactSHA256)
	}
	fmt.Fprintf(tw, "strategy\t%s\n", t.Strategy)
	fmt.Fprintf(tw, "max parallel\t%d\n", t.MaxParallel)
	fmt.Fprintf(tw, "on failure\t%s\n", t.OnFailure)
	fmt.Fprintf(tw, "protocol\t%d\n", t.ProtocolVersion)
	if t.MaxLag > 0 {
		fmt.Fprintf(tw, "max lag\t%d\n", t.MaxLag)
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
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := writeSteps(w, t.Steps); err != nil {
		return err
	}
	return writeSwitchovers(w, t) // service_output.go
}

func writeSteps(w io.Writer, steps []api.Step) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tBATCH\tSTATE\tATTEMPT\tFROM\tTO\tERROR")
	for _, s := range steps {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\n", s.Node, s.Batch+1, s.State, s.Attempt,
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

// writeTxnList prints the transactions kept, one a line.
func writeTxnList(w io.Writer, txns []api.Txn) error {
	if len(txns) == 0 {
		_, err := fmt.Fprintln(w, "no upgrade transaction has run on this cluster")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tTARGET\tSTRATEGY\tSTEPS\tCREATED")
	for _, t := range txns {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\n", t.ID, t.State, t.TargetVersion, t.Strategy,
			t.Count(api.StepDone), len(t.Steps), formatTime(t.CreatedAt))
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

// progressDescription names the state, the batch and the running steps, as
// in "running · batch 2/3 · n3 (attempt 1)".
func progressDescription(t api.Txn) string {
	parts := []string{string(t.State)}
	if b := t.CurrentBatch(); b >= 0 && !t.State.Terminal() {
		parts = append(parts, fmt.Sprintf("batch %d/%d", b+1, t.Batches()))
	}
	var running []string
	for _, s := range t.Steps {
		if s.State != api.StepRunning {
			continue
		}
		if s.Rollback {
			running = append(running, fmt.Sprintf("%s (rollback, attempt %d)", s.Node, s.Attempt))
		} else {
			running = append(running, fmt.Sprintf("%s (attempt %d)", s.Node, s.Attempt))
		}
	}
	if len(running) > 0 {
		parts = append(parts, strings.Join(running, ", "))
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
