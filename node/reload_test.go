package node

import (
	"testing"
	"time"

	"github.com/baton-upgrade/baton/node/config"
	"github.com/stretchr/testify/require"
)

func TestChangedHooksNamesWhatDiffers(t *testing.T) {
	old := config.Hooks{Install: "a", Version: "v", Timeout: time.Minute}
	require.Empty(t, changedHooks(old, old))
	now := old
	now.Health, now.Timeout = "h", 2*time.Minute
	require.Equal(t, []string{"health", "timeout"}, changedHooks(old, now))
}
