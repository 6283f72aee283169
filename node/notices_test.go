package node

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNoticeTarget(t *testing.T) {
	for _, tc := range []struct {
		name, leaderID, leaderAddr string
		want                       string
		direct                     bool
	}{
		{name: "another leader: straight to it", leaderID: "n2", leaderAddr: "10.0.0.2:7100", want: "10.0.0.2:7100", direct: true},
		{name: "no leader known: through the own agent", leaderID: "", leaderAddr: ""},
		{name: "this node leads: its own API", leaderID: "n1", leaderAddr: "10.0.0.1:7100"},
		{name: "a leader without an address on record: through the own agent", leaderID: "n3", leaderAddr: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, direct := noticeTarget("n1", func() (string, string) { return tc.leaderID, tc.leaderAddr })
			require.Equal(t, tc.direct, direct)
			require.Equal(t, tc.want, addr)
		})
	}
}
