package main

import (
	"fmt"
	"io"

	"github.com/baton-upgrade/baton/rpc/api"
)

// switchoverLine describes a switch-over of the service's primary in one
// line, such as "switch-over n2 -> n3: committed (n3 is the primary)".
func switchoverLine(sw api.Switchover) string {
	line := fmt.Sprintf("switch-over %s -> %s: %s", sw.OldPrimary, sw.Candidate, sw.Phase)
	switch sw.Phase {
	case api.SwitchChosen:
		line += fmt.Sprintf(" (lag %d, max %d; old primary %s)", sw.CandidateLag, sw.MaxLag, orDash(sw.Diagnostic))
	case api.SwitchCommitted:
		line += fmt.Sprintf(" (%s is the primary)", sw.Candidate)
	case api.SwitchDone:
		if sw.Note != "" {
			line += " (" + oneLine(sw.Note) + ")"
		}
	case api.SwitchFailed:
		line += ": " + oneLine(sw.Error)
	}
	return line
}

// switchoverLines describes the switch-overs that began or moved between
// prev (nil for the first state seen) and cur, for a watch log.
func switchoverLines(prev *api.Txn, cur api.Txn) []string {
	var lines []string
	for i, sw := range cur.Switchovers {
		if prev != nil && i < len(prev.Switchovers) && prev.Switchovers[i].Phase == sw.Phase {
			continue
		}
		lines = append(lines, switchoverLine(sw))
	}
	return lines
}

// writeSwitchovers lists a transaction's switch-overs after its steps.
func writeSwitchovers(w io.Writer, t api.Txn) error {
	for _, sw := range t.Switchovers {
		if _, err := fmt.Fprintln(w, switchoverLine(sw)); err != nil {
			return err
		}
	}
	return nil
}

// memberRole is a member's ROLE column: its service role, or "-".
func memberRole(m api.Member) string { return orDash(m.Role) }
