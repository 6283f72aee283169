package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// requireStoppedRemoved waits until agent a exits with status 1 after
// saying that it was removed from the cluster, and checks that its last
// words contain each of wants.
func requireStoppedRemoved(t *testing.T, a *procs.Agent, wants ...string) {
	t.Helper()
	code, err := a.WaitExit(90 * time.Second)
	require.NoError(t, err, "a removed agent must stop on its own; log tail:\n%s", procs.Tail(a.LogPath, 20))
	b, err := os.ReadFile(a.LogPath)
	require.NoError(t, err)
	tail := procs.Tail(a.LogPath, 20)
	require.Equal(t, 1, code, "exit status of removed %s; log tail:\n%s", a.ID, tail)
	last := lastLine(string(b), "baton: ")
	require.Contains(t, last, "baton: removed from the cluster: this agent ("+a.ID+") was removed from the cluster", tail)
	require.Contains(t, last, "to rejoin, start it with an empty --data-dir and --join", tail)
	for _, w := range wants {
		require.Contains(t, last, w, tail)
	}
}

// lastLine is the last line of log that starts with prefix.
func lastLine(log, prefix string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], prefix) {
			return lines[i]
		}
	}
	return ""
}

// others returns the running agents of c other than those named.
func others(c *procs.Cluster, not ...string) []*procs.Agent {
	var out []*procs.Agent
next:
	for _, a := range c.Agents {
		if a.Exited() {
			continue
		}
		for _, n := range not {
			if a.ID == n {
				continue next
			}
		}
		out = append(out, a)
	}
	return out
}

// memberIDs lists the ids a's catalogue holds.
func memberIDs(t *testing.T, a *procs.Agent) []string {
	var ids []string
	for _, m := range membersJSON(t, a) {
		ids = append(ids, m.ID)
	}
	return ids
}

func raftReport(t *testing.T, a *procs.Agent) (api.RaftReport, procs.CLIResult) {
	t.Helper()
	res := a.CLI("operator", "raft", "--json")
	var rep api.RaftReport
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &rep), "stdout %q, stderr %q", res.Stdout, res.Stderr)
	return rep, res
}

// TestMembersRemoveAndItsRefusals removes a live follower and the leader
// (which hands leadership off first), each of which stops by itself with
// what to do; then refuses, with a reason, a dead member without --force,
// a removal that would lose the quorum, and the last voter.
func TestMembersRemoveAndItsRefusals(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.Start(5)
	waitStatus(t, c.Agent("n1"), api.MemberAlive)
	leader := currentLeader(t, c)
	followers := others(c, leader.ID)
	via := followers[0]

	res := via.CLI("members", "remove", "n9")
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, `member "n9" is neither in the catalogue nor in the raft configuration`)

	// A live follower, asked of another follower, which forwards.
	gone := followers[3]
	res = via.CLI("members", "remove", gone.ID)
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Equal(t, "removed "+gone.ID+"\n", res.Stdout)
	requireStoppedRemoved(t, gone, "by the leader "+leader.ID)
	require.NotContains(t, memberIDs(t, via), gone.ID)

	// The leader: it hands leadership off, then the new leader removes it.
	res = via.CLI("members", "remove", leader.ID)
	require.Equal(t, 0, res.Code, res.Stderr)
	requireStoppedRemoved(t, leader)
	now := currentLeader(t, c)
	require.NotEqual(t, leader.ID, now.ID)
	require.ElementsMatch(t, []string{followers[0].ID, followers[1].ID, followers[2].ID}, memberIDs(t, now))

	// Three voters left, and one of the followers dies.
	rest := others(c, now.ID)
	dead, live := rest[0], rest[1]
	dead.Kill()
	procs.Eventually(t, 60*time.Second, func() error {
		for _, m := range membersJSON(t, now) {
			if m.ID == dead.ID && m.Status != api.MemberUnreachable {
				return fmt.Errorf("%s is %s", m.ID, m.Status)
			}
		}
		return nil
	})
	res = now.CLI("members", "remove", dead.ID)
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "member "+dead.ID+" is unreachable")
	require.Contains(t, res.Stderr, "remove it with --force")

	res = now.CLI("members", "remove", live.ID)
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, fmt.Sprintf("removing %s would leave 2 voters (%s) of which 1 is reachable (%s); a quorum needs 2: bring %s back, or remove it first",
		live.ID, strings.Join(sortedIDs(now.ID, dead.ID), ", "), now.ID, dead.ID))
	require.Contains(t, memberIDs(t, now), live.ID, "a refused removal changes nothing")

	res = now.CLI("members", "remove", dead.ID, "--force")
	require.Equal(t, 0, res.Code, res.Stderr)
	res = now.CLI("members", "remove", live.ID)
	require.Equal(t, 0, res.Code, res.Stderr)
	requireStoppedRemoved(t, live)
	require.Equal(t, []string{now.ID}, memberIDs(t, now))

	res = now.CLI("members", "remove", now.ID)
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, now.ID+" is the cluster's last voter")

	rep, res := raftReport(t, now)
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Len(t, rep.Servers, 1)
	require.Equal(t, now.ID, rep.Leader)
}

func sortedIDs(ids ...string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}

// TestForceRemovalOfADeadMemberMidStepAndItsReplacement: a node dies in the
// middle of its step and is removed with --force: its step fails with the
// removal as the reason. Its old agent, started again on its data dir,
// stops and says what to do. A new agent under the same id, with an empty
// data dir and new addresses, joins, and the transaction, retried, upgrades
// it.
func TestForceRemovalOfADeadMemberMidStepAndItsReplacement(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	waitStatus(t, c.Agent("n1"), api.MemberAlive)
	require.NoError(t, hooks.Set("install-sleep", "20"))
	leader := currentLeader(t, c)
	id := startUpgrade(t, leader, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	step := runningStep(t, c, id)
	victim := c.Agent(step.Node)
	victim.Kill()
	require.NoError(t, hooks.Set("install-sleep", "0.2"))
	leader = currentLeader(t, c)

	res := leader.CLI("members", "remove", victim.ID)
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "--force")
	res = leader.CLI("members", "remove", victim.ID, "--force")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Equal(t, fmt.Sprintf("removed %s\nits unfinished step in transaction %s failed: member %s was removed\n", victim.ID, id, victim.ID), res.Stdout)

	txn := c.WaitTxn(id, 30*time.Second, api.TxnFailed)
	s := txn.Step(victim.ID)
	require.Equal(t, api.StepFailed, s.State)
	require.Equal(t, "member "+victim.ID+" was removed", s.Error)
	require.Contains(t, txn.Reason, "member "+victim.ID+" was removed")
	require.NotContains(t, memberIDs(t, leader), victim.ID)

	res = leader.CLI("upgrade", "retry")
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "member "+victim.ID+" was removed, so its step in "+id+" cannot run")

	// The old agent, back on its data dir and told to --join: it was removed.
	victim.Start("--join", leader.HTTPAddr)
	requireStoppedRemoved(t, victim, "--join was ignored: --data-dir "+victim.DataDir)

	// A fresh agent under the same id: empty data dir, new addresses.
	raftAddr, err := procs.FreeAddr()
	require.NoError(t, err)
	httpAddr, err := procs.FreeAddr()
	require.NoError(t, err)
	repl := c.AddAt(victim.ID, raftAddr, httpAddr)
	repl.DataDir = filepath.Join(c.Root, victim.ID+"-replacement")
	repl.LogPath = filepath.Join(c.Root, victim.ID+"-replacement.log")
	repl.Start("--join", leader.HTTPAddr)
	procs.Eventually(t, 60*time.Second, func() error {
		for _, m := range membersJSON(t, leader) {
			if m.ID == victim.ID {
				if m.RaftAddr != raftAddr || m.HTTPAddr != httpAddr || !m.Voter || m.Status != api.MemberAlive {
					return fmt.Errorf("%s is %+v", m.ID, m)
				}
				return nil
			}
		}
		return fmt.Errorf("%s has not joined", victim.ID)
	})

	// The old agent once more: now its id belongs to another agent.
	victim.Start()
	requireStoppedRemoved(t, victim, "replaced: the leader", "has "+victim.ID+" at raft address "+raftAddr)

	// The transaction goes on with the replacement.
	res = leader.CLI("upgrade", "retry")
	require.Equal(t, 0, res.Code, res.Stderr)
	c.WaitTxn(id, 2*time.Minute, api.TxnDone)
	for _, m := range membersJSON(t, leader) {
		require.Equal(t, "2.0.0", m.Version, "member %s", m.ID)
	}
}

// TestAgentRestartedAtNewAddresses: an agent restarted from its data dir
// with another --raft-addr used to stay a candidate forever; now the leader
// moves it in the Raft configuration and the catalogue, and it takes part
// again (it can even lead). Another --http-addr alone is a catalogue
// update through its registration.
func TestAgentRestartedAtNewAddresses(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.Start(3)
	waitStatus(t, c.Agent("n1"), api.MemberAlive)
	leader := currentLeader(t, c)
	moved := others(c, leader.ID)[0]
	oldRaft := moved.RaftAddr

	moved.Stop()
	newRaft, err := procs.FreeAddr()
	require.NoError(t, err)
	moved.RaftAddr = newRaft
	moved.Restart()
	procs.Eventually(t, 60*time.Second, func() error {
		rep, res := raftReport(t, leader)
		if res.Code != 0 {
			return fmt.Errorf("operator raft: %s", res.Stderr)
		}
		for _, s := range rep.Servers {
			if s.ID == moved.ID {
				if s.Address != newRaft || s.Suffrage != api.SuffrageVoter || s.RaftState != "Follower" || s.Lag == nil || *s.Lag > 5 {
					return fmt.Errorf("%s is %+v", s.ID, s)
				}
				return nil
			}
		}
		return fmt.Errorf("%s is not in the configuration", moved.ID)
	})
	for _, m := range membersJSON(t, leader) {
		if m.ID == moved.ID {
			require.Equal(t, newRaft, m.RaftAddr)
			require.True(t, m.Voter)
		}
	}
	b, err := os.ReadFile(leader.LogPath)
	require.NoError(t, err)
	require.Regexp(t, `"@message":"member moved".*"member":"`+moved.ID+`"`, string(b))
	ms := membersJSON(t, moved)
	require.Len(t, ms, 3, "the moved agent caught up with the catalogue")
	require.NotEqual(t, oldRaft, newRaft)

	// Another --http-addr alone: the registration updates the catalogue.
	moved.Stop()
	newHTTP, err := procs.FreeAddr()
	require.NoError(t, err)
	moved.HTTPAddr = newHTTP
	moved.Restart()
	procs.Eventually(t, 60*time.Second, func() error {
		for _, m := range membersJSON(t, leader) {
			if m.ID == moved.ID && m.HTTPAddr != newHTTP {
				return fmt.Errorf("%s's http_addr is %s", m.ID, m.HTTPAddr)
			}
		}
		return nil
	})

	// It takes part: leadership can go to it, and writes reach it there.
	res := leader.CLI("leader", "transfer", "--to", moved.ID)
	require.Equal(t, 0, res.Code, res.Stderr)
	procs.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l, err := leader.Client().Leader(ctx)
		if err != nil {
			return err
		}
		if l.ID != moved.ID || l.HTTPAddr != newHTTP || l.RaftAddr != newRaft {
			return fmt.Errorf("leader is %+v", l)
		}
		return nil
	})
	res = leader.CLI("leader", "transfer", "--to", leader.ID)
	require.Equal(t, 0, res.Code, "a write forwarded to the moved leader: %s", res.Stderr)
}

// TestRemovedVoterIsReplacedByTheNonVoter: six members are five voters and
// a non-voter; when a voter is removed, the leader promotes the non-voter,
// and `operator raft` shows five voters, each caught up.
func TestRemovedVoterIsReplacedByTheNonVoter(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.Start(6)
	ms := waitStatus(t, c.Agent("n1"), api.MemberAlive)
	var nonvoter string
	for _, m := range ms {
		if !m.Voter {
			nonvoter = m.ID
		}
	}
	require.NotEmpty(t, nonvoter)
	leader := currentLeader(t, c)
	var victim *procs.Agent
	for _, a := range others(c, leader.ID, nonvoter) {
		victim = a
	}
	res := leader.CLI("members", "remove", victim.ID)
	require.Equal(t, 0, res.Code, res.Stderr)
	requireStoppedRemoved(t, victim)

	procs.Eventually(t, 60*time.Second, func() error {
		rep, res := raftReport(t, leader)
		if res.Code != 0 {
			return fmt.Errorf("operator raft: %s", res.Stderr)
		}
		if rep.Voters != 5 || rep.Quorum != 3 || len(rep.Servers) != 5 {
			return fmt.Errorf("%d voters of %d servers", rep.Voters, len(rep.Servers))
		}
		for _, s := range rep.Servers {
			if s.Suffrage != api.SuffrageVoter || !s.Reachable || s.Lag == nil || s.LastContact == "" || s.LastIndex == 0 {
				return fmt.Errorf("%s is %+v", s.ID, s)
			}
		}
		return nil
	})
	for _, m := range membersJSON(t, leader) {
		require.True(t, m.Voter, "%s is a voter in the catalogue too", m.ID)
	}
	b, err := os.ReadFile(leader.LogPath)
	require.NoError(t, err)
	require.Contains(t, string(b), "promoted a non-voter to voter")

	res = leader.CLI("operator", "raft")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Regexp(t, nonvoter+`\s+\S+\s+voter\s+follower\s+alive\s+\S+\s+\d+\s+\d+`, res.Stdout)
	require.Contains(t, res.Stdout, "leader "+leader.ID+" (term ")
}

// TestOperatorRaftDiagnosesALostQuorum: with two of three servers down
// there is no leader; `operator raft` on the survivor exits 1 and says
// which voters it reaches and what a quorum needs, and exits 0 again once
// one is back.
func TestOperatorRaftDiagnosesALostQuorum(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.Start(3)
	waitStatus(t, c.Agent("n1"), api.MemberAlive)
	c.Agent("n2").Kill()
	c.Agent("n3").Kill()
	n1 := c.Agent("n1")
	want := "no leader: 1 of 3 voters reachable (n1); a quorum needs 2 — bring back n2 or n3"
	procs.Eventually(t, 30*time.Second, func() error {
		res := n1.CLI("operator", "raft")
		if res.Code != 1 || !strings.Contains(res.Stderr, want) {
			return fmt.Errorf("exit %d, stderr %q", res.Code, res.Stderr)
		}
		return nil
	})
	res := n1.CLI("operator", "raft")
	require.Regexp(t, `n2\s+\S+\s+voter\s+no answer\s+\S+\s+-\s+-\s+-`, res.Stdout)
	require.Contains(t, res.Stdout, want+"\n")
	rep, res := raftReport(t, n1)
	require.Equal(t, 1, res.Code)
	require.Empty(t, rep.Leader)
	require.Equal(t, want, rep.Diagnosis)

	c.Agent("n2").Restart()
	procs.Eventually(t, 60*time.Second, func() error {
		if res := n1.CLI("operator", "raft"); res.Code != 0 {
			return fmt.Errorf("exit %d: %s", res.Code, res.Stderr)
		}
		return nil
	})
}
