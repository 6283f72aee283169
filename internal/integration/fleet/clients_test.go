package fleet

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// Client agents register through the servers, are catalogued as clients
// (no Raft address, no API, never voters), are kept alive by their polls,
// and an upgrade over servers and clients installs on each exactly once.
func TestClientsRegisterAndUpgradeWithTheServers(t *testing.T) {
	f := newFleet(t, 3, 3)
	ms, err := f.members()
	require.NoError(t, err)
	clients := 0
	for _, m := range ms {
		if !strings.HasPrefix(m.ID, "c") {
			require.False(t, m.Client, "server %s marked a client", m.ID)
			continue
		}
		clients++
		require.True(t, m.Client, "%s is not marked a client", m.ID)
		require.False(t, m.Voter)
		require.Empty(t, m.RaftAddr)
		require.Empty(t, m.HTTPAddr)
		require.NotEmpty(t, m.NodeKey, "a client registers its node key")
		require.Equal(t, "1.0.0", m.Version)
		require.Equal(t, api.MemberAlive, m.Status)
	}
	require.Equal(t, 3, clients)
	res := f.anyServer().CLI("members")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Regexp(t, `(?m)^c1\s+-\s+-\s+-\s+1\.0\.0\s+\S+\s+client\s`, res.Stdout)
	// The Raft configuration holds the servers alone.
	res = f.anyServer().CLI("operator", "raft")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.NotContains(t, res.Stdout, "c1")

	id := f.startUpgrade(api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id", MaxParallel: "2"})
	txn := f.waitDone(id, 3*time.Minute)
	require.Len(t, txn.Steps, 6)
	f.requireInstalledOnce("2.0.0")
	ms, err = f.members()
	require.NoError(t, err)
	for _, m := range ms {
		require.Equal(t, "2.0.0", m.Version, "catalogue version of %s", m.ID)
	}
}

// A client agent killed (SIGKILL) while its install runs comes back from
// its journal: the install is not run again, and the step ends done with
// its notice delivered.
func TestClientKilledDuringInstallResumesAndInstallsOnce(t *testing.T) {
	f := newFleet(t, 1, 2)
	require.NoError(t, f.hooks.Set("install-sleep", "3"))
	id := f.startUpgrade(api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id", AllowLeaderUpgrade: true})
	f.waitInstalling("c1")
	f.clients["c1"].kill()
	t.Log("killed c1's agent during its install")
	time.Sleep(500 * time.Millisecond)
	f.clients["c1"].start()
	f.waitDone(id, 3*time.Minute)
	f.requireInstalledOnce("2.0.0")
}

// The servers' leader killed (SIGKILL) while a client's step runs loses
// neither the step nor its notice: the new leader's coordinator finds the
// step through the client's polls, the client's notice reaches it, and
// nothing runs twice.
func TestLeaderKilledWhileAClientInstallsLosesNothing(t *testing.T) {
	f := newFleet(t, 3, 2)
	require.NoError(t, f.hooks.Set("install-sleep", "2"))
	id := f.startUpgrade(api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id", MaxParallel: "1"})
	f.waitInstalling("c1")
	leader := f.leader()
	leader.Kill()
	t.Logf("killed the servers' leader %s while c1 installs", leader.ID)
	procs.Eventually(t, 60*time.Second, func() error {
		txn, err := f.txn(id)
		if err != nil {
			return err
		}
		if s := txn.Step("c1"); s.State != api.StepDone {
			return fmt.Errorf("c1's step is %s", s.State)
		}
		return nil
	})
	leader.Restart()
	f.waitDone(id, 3*time.Minute)
	f.requireInstalledOnce("2.0.0")
}

// A client that stops polling loses its lease: `baton members` shows it
// unreachable, and its step waits, saying so; once it is back, the step
// runs and the upgrade finishes.
func TestAClientThatMissesItsLeaseIsUnreachableAndItsStepWaits(t *testing.T) {
	f := newFleet(t, 1, 2)
	killedAt := time.Now()
	f.clients["c2"].killGroup()
	var down api.Member
	procs.Eventually(t, 60*time.Second, func() error {
		ms, err := f.members()
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.ID == "c2" {
				down = m
				if m.Status != api.MemberUnreachable {
					return fmt.Errorf("c2 is %q", m.Status)
				}
			}
		}
		return nil
	})
	require.True(t, down.StatusSince.After(killedAt))
	require.False(t, down.LastSeen.IsZero())
	res := f.anyServer().CLI("members")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Regexp(t, `c2\s.*unreachable since \d\d:\d\d:\d\dZ`, res.Stdout)

	id := f.startUpgrade(api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id", AllowLeaderUpgrade: true})
	procs.Eventually(t, 2*time.Minute, func() error {
		txn, err := f.txn(id)
		if err != nil {
			return err
		}
		if s := txn.Step("c2"); !strings.Contains(s.Waiting, "c2 unreachable since") {
			return fmt.Errorf("c2's step is %s, waiting %q", s.State, s.Waiting)
		}
		return nil
	})
	require.Empty(t, f.installs()["c2"], "nothing ran on a client without its lease")
	f.clients["c2"].start()
	f.waitDone(id, 3*time.Minute)
	f.requireInstalledOnce("2.0.0")
	f.waitMembers(3, api.MemberAlive)
}

// A client removed by an operator (`baton members remove ID`, here forced:
// it has no step) leaves the catalogue, and its agent stops instead of
// registering again behind the operator's back.
func TestARemovedClientStops(t *testing.T) {
	f := newFleet(t, 1, 1)
	res := f.anyServer().CLI("members", "remove", "c1")
	require.Equal(t, 0, res.Code, "%s%s", res.Stdout, res.Stderr)
	select {
	case <-f.clients["c1"].exited:
	case <-time.After(60 * time.Second):
		t.Fatal("the removed client's agent still runs")
	}
	require.Contains(t, procs.Tail(f.clients["c1"].logPath, 20), "no longer in the catalogue")
	ms, err := f.members()
	require.NoError(t, err)
	require.Len(t, ms, 1)
}

// With TLS, clients speak HTTPS to the servers, verifying their
// certificates against the CA and presenting their own node certificate;
// they register and upgrade as without it.
func TestClientsOverTLS(t *testing.T) {
	f := newFleetWith(t, 1, 2, true)
	for _, cl := range f.clients {
		require.Contains(t, procs.Tail(cl.logPath, 50), `"tls":true`, "client %s runs without TLS", cl.id)
	}
	id := f.startUpgrade(api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id", AllowLeaderUpgrade: true})
	f.waitDone(id, 3*time.Minute)
	f.requireInstalledOnce("2.0.0")
}
