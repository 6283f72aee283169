package main

import (
	"io"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/node"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"
)

// agentFlags parses an agent command line without starting an agent and
// returns the config it would run with.
func agentFlags(t *testing.T, args ...string) (node.Config, error) {
	t.Helper()
	cmd := agentCommand()
	var cfg node.Config
	var cfgErr error
	cmd.Action = func(c *cli.Context) error {
		cfg, cfgErr = agentConfig(c)
		return nil
	}
	app := &cli.App{Name: "baton", Writer: io.Discard, ErrWriter: io.Discard, Commands: []*cli.Command{cmd}}
	base := []string{"baton", "agent", "--id", "n1", "--data-dir", t.TempDir(), "--raft-addr", "127.0.0.1:7071"}
	require.NoError(t, app.Run(append(base, args...)))
	return cfg, cfgErr
}

func TestAgentSnapshotFlags(t *testing.T) {
	cfg, err := agentFlags(t)
	require.NoError(t, err)
	require.Equal(t, node.SnapshotConfig{Threshold: 8192, Interval: 120 * time.Second, TrailingLogs: 10240}, cfg.Snapshots,
		"the defaults are hashicorp/raft's")

	cfg, err = agentFlags(t, "--raft-snapshot-threshold", "100", "--raft-snapshot-interval", "500ms", "--raft-trailing-logs", "30")
	require.NoError(t, err)
	require.Equal(t, node.SnapshotConfig{Threshold: 100, Interval: 500 * time.Millisecond, TrailingLogs: 30}, cfg.Snapshots)
}

func TestAgentSnapshotFlagsRefuseBadValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--raft-snapshot-threshold", "0"}, "--raft-snapshot-threshold 0: want at least 1"},
		{[]string{"--raft-snapshot-threshold", "-5"}, `invalid value "-5" for flag -raft-snapshot-threshold`},
		{[]string{"--raft-trailing-logs", "0"}, "--raft-trailing-logs 0: want at least 1"},
		{[]string{"--raft-trailing-logs", "many"}, `invalid value "many" for flag -raft-trailing-logs`},
		{[]string{"--raft-snapshot-interval", "1ms"}, "--raft-snapshot-interval 1ms: want at least 5ms"},
		{[]string{"--raft-snapshot-interval", "0"}, "--raft-snapshot-interval 0s: want at least 5ms"},
		{[]string{"--raft-snapshot-interval", "often"}, `invalid value "often" for flag -raft-snapshot-interval`},
	} {
		t.Run(tc.args[0]+"="+tc.args[1], func(t *testing.T) {
			args := append([]string{"agent", "--id", "n1", "--data-dir", t.TempDir(), "--raft-addr", "127.0.0.1:1"}, tc.args...)
			code, _, errOut := runBaton(t, args...)
			require.Equal(t, 2, code, "a bad flag value is a usage error: %s", errOut)
			require.Contains(t, errOut, tc.want)
		})
	}
}

func TestAgentLimitFlags(t *testing.T) {
	cfg, err := agentFlags(t)
	require.NoError(t, err)
	require.False(t, cfg.AllowHTTPArtifacts, "only https artifacts unless allowed")
	cfg, err = agentFlags(t, "--allow-http-artifacts")
	require.NoError(t, err)
	require.True(t, cfg.AllowHTTPArtifacts)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--http-max-conns", "-1"}, "--http-max-conns -1: want 0 (no limit) or more"},
		{[]string{"--http-max-conns-per-client", "-3"}, "--http-max-conns-per-client -3: want 0 (no limit) or more"},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			args := append([]string{"agent", "--id", "n1", "--data-dir", t.TempDir(), "--raft-addr", "127.0.0.1:1"}, tc.args...)
			code, _, errOut := runBaton(t, args...)
			require.Equal(t, 2, code, "a bad flag value is a usage error: %s", errOut)
			require.Contains(t, errOut, tc.want)
		})
	}
}
