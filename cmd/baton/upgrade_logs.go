package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// writeLogs prints the hook runs of each node, attempt by attempt, each
// under a header line (node, attempt, hook, exit code, when and how long),
// followed by its output as the hook wrote it. A node whose output could
// not be had is named with the reason, in its place.
func writeLogs(w io.Writer, logs []api.StepLogs) error {
	if len(logs) == 0 {
		_, err := fmt.Fprintln(w, "no hook output: no node ran a hook of this transaction that matches")
		return err
	}
	for _, l := range logs {
		if l.Error != "" {
			if _, err := fmt.Fprintf(w, "==> %s: %s\n", l.Node, oneLine(l.Error)); err != nil {
				return err
			}
			continue
		}
		for _, h := range l.Hooks {
			kind := ""
			if h.Hook == "rollback" {
				kind = " (rollback)"
			}
			if _, err := fmt.Fprintf(w, "==> %s · attempt %d%s · %s · %s · %s\n", l.Node, l.Attempt, kind, h.Hook, exitOf(h), runTime(h)); err != nil {
				return err
			}
			if _, err := io.WriteString(w, hookOutput(h)); err != nil {
				return err
			}
		}
	}
	return nil
}

// exitOf says how a hook run ended: its exit code, or that it still runs.
func exitOf(h api.HookOutput) string {
	if h.Ended.IsZero() {
		return "running"
	}
	return fmt.Sprintf("exit %d", h.ExitCode)
}

// runTime says when a hook run began and how long it took.
func runTime(h api.HookOutput) string {
	began := formatTime(h.Began)
	if h.Ended.IsZero() {
		return began
	}
	return fmt.Sprintf("%s (%s)", began, h.Ended.Sub(h.Began).Round(time.Millisecond))
}

// hookOutput is a run's output ready to print: ending in a newline, marked
// when its beginning was dropped, or saying there was none.
func hookOutput(h api.HookOutput) string {
	out := h.Output
	if out == "" {
		return "(no output)\n"
	}
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	if h.Truncated {
		out = fmt.Sprintf("… (earlier output dropped: each run keeps its last %d KiB)\n", api.HookOutputLimit>>10) + out
	}
	return out
}
