package strategy

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// With role hooks, "primary" is the service's primary, wherever Baton's
// leader is; the reason says which it used.
func TestPrimaryIsTheServicesWhenRolesAreKnown(t *testing.T) {
	nodes := []Node{{ID: "n1", Voter: true}, {ID: "n2", Voter: true}, {ID: "n3", Voter: true}, {ID: "n10", Voter: true}}
	cases := []struct {
		name      string
		in        Input
		strategy  string
		order     []string
		reason    string
		primaryOK bool
	}{
		{"secondaries-first puts the service's primary last", Input{Nodes: nodes, Leader: "n1", RolesKnown: true, ServicePrimary: "n2"},
			SecondariesFirst, []string{"n1", "n3", "n10", "n2"},
			"primary = the service's primary n2 (from the role hooks), upgraded last; the others first, in natural id order", true},
		{"primary-first puts it first", Input{Nodes: nodes, Leader: "n1", RolesKnown: true, ServicePrimary: "n10"},
			PrimaryFirst, []string{"n10", "n1", "n2", "n3"},
			"primary = the service's primary n10 (from the role hooks), upgraded first; then the others, in natural id order", true},
		{"roles known but no primary: natural order, never Baton's leader", Input{Nodes: nodes, Leader: "n1", RolesKnown: true},
			SecondariesFirst, []string{"n1", "n2", "n3", "n10"},
			"no primary known (the role hooks report none): natural id order", false},
		{"a primary that is not a member", Input{Nodes: nodes, Leader: "n1", RolesKnown: true, ServicePrimary: "n9"},
			PrimaryFirst, []string{"n1", "n2", "n3", "n10"},
			"no primary known (the service's primary n9 is not a member): natural id order", false},
		{"no role hooks: Baton's leader, the service's primary ignored", Input{Nodes: nodes, Leader: "n3", ServicePrimary: "n2"},
			SecondariesFirst, []string{"n1", "n2", "n10", "n3"},
			"primary = Baton's Raft leader n3 (no role hooks), upgraded last; the others first, in natural id order", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Plan(tc.strategy, tc.in, 1)
			require.NoError(t, err)
			require.Equal(t, tc.order, res.Order)
			require.Equal(t, tc.reason, res.Reason)
			_, _, ok := tc.in.Primary()
			require.Equal(t, tc.primaryOK, ok)
		})
	}
}
