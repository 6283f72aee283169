package nemesis

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	all, err := Parse("all")
	require.NoError(t, err)
	require.Equal(t, All(), all)
	got, err := Parse("kill,hook-hang")
	require.NoError(t, err)
	require.Equal(t, []Kind{KillLeader, KillRandom, KillStep, HookHang}, got)
	none, err := Parse("none")
	require.NoError(t, err)
	require.Empty(t, none)
	lag, err := Parse("lag,pause")
	require.NoError(t, err)
	require.Equal(t, []Kind{Pause, Lag}, lag)
	require.False(t, Lag.IsPartition(), "lag runs without namespaces: it kills the node instead")
	_, err = Parse("kill,meteor")
	require.ErrorContains(t, err, `unknown nemesis "meteor"`)
}
