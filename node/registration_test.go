package node

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/stretchr/testify/require"
)

// servedAgent starts a one-voter cluster of one agent whose version hook
// prints the content of versionFile, with its API served on its HTTP
// address, and waits until it leads.
func servedAgent(t *testing.T, versionFile string) *Agent {
	t.Helper()
	a := serve(t, Config{ID: "n1", Bootstrap: true, BuildVersion: "9.9.9", Protocol: fsm.ProtocolRange{Min: 1, Max: 1},
		Hooks: config.Hooks{Install: "true", Version: "cat " + versionFile}}, nil)
	waitLeader(t, a)
	return a
}

// waitLeader waits until a leads.
func waitLeader(t *testing.T, a *Agent) {
	t.Helper()
	procs.Eventually(t, 20*time.Second, func() error {
		if !a.IsLeader() {
			return errString("not leader yet")
		}
		return nil
	})
}

// registeredLeader bootstraps a one-voter cluster from cfg (adjusted as
// serve does), waits until it leads and registers it.
func registeredLeader(t *testing.T, ctx context.Context, cfg Config, adjust func(*Agent)) *Agent {
	t.Helper()
	cfg.Bootstrap = true
	a := serve(t, cfg, adjust)
	waitLeader(t, a)
	require.NoError(t, a.Register(ctx))
	return a
}

// serve creates an agent from cfg on free loopback addresses and a fresh
// data directory, lets adjust change it before Raft starts, starts it and
// serves its API.
func serve(t *testing.T, cfg Config, adjust func(*Agent)) *Agent {
	t.Helper()
	var err error
	cfg.RaftAddr, err = procs.FreeAddr()
	require.NoError(t, err)
	cfg.HTTPAddr, err = procs.FreeAddr()
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	a, err := New(cfg)
	require.NoError(t, err)
	if adjust != nil {
		adjust(a)
	}
	require.NoError(t, a.Start())
	t.Cleanup(func() { _ = a.Shutdown() })

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	require.NoError(t, err)
	srv := &http.Server{Handler: rpc.NewServer(a, rpc.ServerOptions{Steps: a, Speaks: cfg.Protocol.Max}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return a
}

type errString string

func (e errString) Error() string { return string(e) }

func memberVersion(a *Agent, id string) string {
	var v string
	a.FSM().View(func(s *fsm.State) { v = s.Members[id].Version })
	return v
}

// TestRegistrationNeverRevertsAnUpgradedVersion: an agent killed during its
// step and restarted ran its version hook at start-up (the old version, the
// install still running), finished the step (the catalogue learned the new
// version), and only then re-registered with what it had printed at
// start-up: the catalogue showed the old version while the node ran the new
// one, and the next transaction took the old version as the node's
// from_version. A registration must report what the node runs when it
// registers, never an earlier reading.
func TestRegistrationNeverRevertsAnUpgradedVersion(t *testing.T) {
	versionFile := filepath.Join(t.TempDir(), "version")
	require.NoError(t, os.WriteFile(versionFile, []byte("1.0.0\n"), 0o644))
	a := servedAgent(t, versionFile)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, a.Register(ctx))
	require.Equal(t, "1.0.0", memberVersion(a, "n1"))

	// The node's service moves to 2.0.0 and the cluster learns it, as a
	// step's completion notice tells it.
	require.NoError(t, os.WriteFile(versionFile, []byte("2.0.0\n"), 0o644))
	_, err := a.Apply(ctx, fsm.CmdMemberReport, fsm.MemberReport{ID: "n1", Version: "2.0.0", Protocol: fsm.ProtocolRange{Min: 1, Max: 1}})
	require.NoError(t, err)
	require.Equal(t, "2.0.0", memberVersion(a, "n1"))

	// The agent registers again, as it does after every restart.
	require.NoError(t, a.Register(ctx))
	require.Equal(t, "2.0.0", memberVersion(a, "n1"), "the registration reverted the catalogue to an earlier reading")
}

func memberRecord(a *Agent, id string) fsm.Member {
	var m fsm.Member
	a.FSM().View(func(s *fsm.State) { m = s.Members[id] })
	return m
}

// TestFailingVersionHookRegistersAnUnknownVersionAndSaysWhy: an agent whose
// version hook fails at start-up used to register its own build's version
// as the service's. It registers no version, and the catalogue says why;
// once the hook works, the version is registered and the reason goes.
func TestFailingVersionHookRegistersAnUnknownVersionAndSaysWhy(t *testing.T) {
	versionFile := filepath.Join(t.TempDir(), "version")
	a := serve(t, Config{ID: "n1", Bootstrap: true, Version: "9.9.9", BuildVersion: "9.9.9", Protocol: fsm.ProtocolRange{Min: 2, Max: 3},
		Hooks: config.Hooks{Install: "true", Version: "cat " + versionFile}}, nil)
	procs.Eventually(t, 20*time.Second, func() error {
		if !a.IsLeader() {
			return errString("not leader yet")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, a.Register(ctx))
	require.Empty(t, memberVersion(a, "n1"), "the build version is not the service's")
	procs.Eventually(t, 20*time.Second, func() error {
		if m := memberRecord(a, "n1"); m.VersionError == "" {
			return errString("no version error recorded yet")
		}
		return nil
	})
	m := memberRecord(a, "n1")
	require.Regexp(t, `^version hook failed: exited 1: cat: .*version: No such file or directory$`, m.VersionError)
	require.Empty(t, m.Version)

	// The hook works again: the next registration reports the version and
	// the reason goes, for good.
	require.NoError(t, os.WriteFile(versionFile, []byte("1.0.0\n"), 0o644))
	require.NoError(t, a.Register(ctx))
	m = memberRecord(a, "n1")
	require.Equal(t, "1.0.0", m.Version)
	require.Empty(t, m.VersionError)
	time.Sleep(500 * time.Millisecond)
	require.Empty(t, memberRecord(a, "n1").VersionError, "nothing records the old reason again")
}

// TestFailingVersionHookBelowProtocol3: a cluster that does not speak
// protocol 3 has no record of the reason, but the version is unknown all
// the same.
func TestFailingVersionHookBelowProtocol3(t *testing.T) {
	versionFile := filepath.Join(t.TempDir(), "version")
	a := serve(t, Config{ID: "n1", Bootstrap: true, Version: "9.9.9", BuildVersion: "9.9.9", Protocol: fsm.ProtocolRange{Min: 1, Max: 2},
		Hooks: config.Hooks{Install: "true", Version: "cat " + versionFile}}, nil)
	procs.Eventually(t, 20*time.Second, func() error {
		if !a.IsLeader() {
			return errString("not leader yet")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, a.Register(ctx))
	require.Empty(t, memberVersion(a, "n1"))
	time.Sleep(500 * time.Millisecond)
	require.Empty(t, memberRecord(a, "n1").VersionError)
}
