package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/baton-upgrade/baton/rpc/api"
)

// writeGroups prints the groups of a grouped plan or transaction: one line
// each with its leader, its members in the order they upgrade, and, in a
// transaction, the member acting for it with the reason.
func writeGroups(w io.Writer, groups []api.Group) error {
	if len(groups) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tLEADER\tMEMBERS\tACTING")
	for _, g := range groups {
		acting := "-"
		if g.Acting != "" {
			acting = fmt.Sprintf("%s (%s)", g.Acting, oneLine(g.ActingReason))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Name, g.Leader, strings.Join(g.Members, ","), acting)
	}
	return tw.Flush()
}
