package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadServiceHooks(t *testing.T) {
	path := writeFile(t, "agent.hcl", `
upgrade {
  install = "i"
  version = "v"
  role    = "redis-cli role | head -1"
  promote = "redis-cli replicaof no one"
  demote  = "redis-cli failover to $NEW"
  follow  = "redis-cli replicaof $P 6379"
  lag     = "echo 0"
}
`)
	cfg, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, "redis-cli role | head -1", cfg.Upgrade.Role)
	require.Equal(t, "redis-cli replicaof no one", cfg.Upgrade.Promote)
	require.Equal(t, "redis-cli failover to $NEW", cfg.Upgrade.Demote)
	require.Equal(t, "redis-cli replicaof $P 6379", cfg.Upgrade.Follow)
	require.Equal(t, "echo 0", cfg.Upgrade.Lag)
	require.Equal(t, []string{HookRole, HookPromote, HookDemote, HookFollow, HookLag}, cfg.Upgrade.ServiceHooks())

	cfg, err = Load(writeFile(t, "agent.json", `{"upgrade": {"install": "i", "version": "v", "role": "r", "lag": " "}}`))
	require.NoError(t, err)
	require.Equal(t, []string{HookRole}, cfg.Upgrade.ServiceHooks(), "a blank command is not configured")
	_, ok := cfg.Upgrade.ServiceHook("reboot")
	require.False(t, ok, "an unknown name is never configured")
	require.Nil(t, Hooks{}.ServiceHooks())
}
