package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func membersJSON(t *testing.T, a *procs.Agent) []api.Member {
	t.Helper()
	res := a.CLI("members", "--json")
	require.Equal(t, 0, res.Code, "baton members failed: %s", res.Stderr)
	var ms []api.Member
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &ms), res.Stdout)
	return ms
}

func leaderOf(ms []api.Member) string {
	for _, m := range ms {
		if m.Leader {
			return m.ID
		}
	}
	return ""
}

// catalogue is the part of the member list every agent must agree on.
func catalogue(ms []api.Member) []api.Member {
	out := make([]api.Member, len(ms))
	for i, m := range ms {
		// Who leads, and whether the leader reaches each member, are
		// observations that move with time, not the catalogue's records.
		m.Leader = false
		m.Status, m.StatusSince, m.LastSeen = "", time.Time{}, time.Time{}
		out[i] = m
	}
	return out
}

// waitStatus waits until a's catalogue records every member with the given
// liveness status and the build it runs, and returns the catalogue. A
// member reports its build, and the leader records its liveness, shortly
// after it joins, so a test that compares catalogues waits for both first.
func waitStatus(t *testing.T, a *procs.Agent, status string) []api.Member {
	t.Helper()
	var ms []api.Member
	procs.Eventually(t, 30*time.Second, func() error {
		ms = membersJSON(t, a)
		for _, m := range ms {
			if m.Status != status {
				return fmt.Errorf("%s is %q, want %q", m.ID, m.Status, status)
			}
			if m.Build == nil {
				return fmt.Errorf("%s has not reported its build yet", m.ID)
			}
		}
		return nil
	})
	return ms
}

// leaderSeenBy asks a's API for the leader; "" when it knows none.
func leaderSeenBy(a *procs.Agent) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l, err := a.Client().Leader(ctx)
	if err != nil {
		return ""
	}
	return l.ID
}

func TestClusterFormsFailsOverAndRejoins(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.Start(3)

	ms := membersJSON(t, c.Agent("n2"))
	require.Len(t, ms, 3)
	require.Equal(t, []string{"n1", "n2", "n3"}, []string{ms[0].ID, ms[1].ID, ms[2].ID})
	leaders := 0
	for _, m := range ms {
		require.True(t, m.Voter, "%s should be a voter", m.ID)
		require.Equal(t, "1.0.0", m.Version)
		require.Equal(t, fsm.ProtocolRange{Min: fsm.LatestProtocol - 1, Max: fsm.LatestProtocol}, fsm.ProtocolRange{Min: m.Protocol.Min, Max: m.Protocol.Max})
		if m.Leader {
			leaders++
		}
	}
	require.Equal(t, 1, leaders)
	before := catalogue(waitStatus(t, c.Agent("n2"), api.MemberAlive))

	// kill -9 the leader: the survivors elect a new one within 5 s.
	old := c.Agent(leaderOf(ms))
	old.Kill()
	killedAt := time.Now()
	var survivors []*procs.Agent
	for _, a := range c.Agents {
		if a != old {
			survivors = append(survivors, a)
		}
	}
	var newLeader string
	procs.Eventually(t, 5*time.Second, func() error {
		l0, l1 := leaderSeenBy(survivors[0]), leaderSeenBy(survivors[1])
		if l0 == "" || l0 == old.ID || l0 != l1 {
			return fmt.Errorf("survivors see leaders %q and %q", l0, l1)
		}
		newLeader = l0
		return nil
	})
	t.Logf("new leader %s elected %s after SIGKILL of %s", newLeader, time.Since(killedAt).Round(time.Millisecond), old.ID)

	// The killed node comes back from its data directory alone.
	old.Restart()
	procs.Eventually(t, 20*time.Second, func() error {
		ms, _, err := old.Client().Members(context.Background(), api.Wait{})
		if err != nil {
			return err
		}
		if l := leaderOf(ms); l == "" || l == old.ID && newLeader != old.ID {
			return fmt.Errorf("restarted %s sees leader %q", old.ID, l)
		}
		return nil
	})
	require.Equal(t, before, catalogue(membersJSON(t, old)), "the restarted node reports the same catalogue")
	require.Equal(t, before, catalogue(membersJSON(t, survivors[0])))
}

func TestLeaderTransfer(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.Start(3)
	from := leaderOf(membersJSON(t, c.Agent("n1")))
	to := "n3"
	if from == "n3" {
		to = "n2"
	}
	// Ask a follower that is not the target, so the request is forwarded.
	via := c.Agent("n1")
	for _, a := range c.Agents {
		if a.ID != from && a.ID != to {
			via = a
		}
	}
	res := via.CLI("leader", "transfer", "--to", to)
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stdout, "leadership moved to "+to)
	for _, a := range c.Agents {
		procs.Eventually(t, 10*time.Second, func() error {
			if l := leaderSeenBy(a); l != to {
				return fmt.Errorf("%s sees leader %q, want %q", a.ID, l, to)
			}
			return nil
		})
	}
	res = via.CLI("leader", "--json")
	require.Equal(t, 0, res.Code, res.Stderr)
	var info api.LeaderInfo
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &info))
	require.Equal(t, to, info.ID)
	require.Equal(t, c.Agent(to).HTTPAddr, info.HTTPAddr)

	res = via.CLI("leader", "transfer", "--to", "n9")
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, `member "n9" is not in the raft configuration`)
}

func TestSixthMemberJoinsAsNonVoterAndMetricsAreServed(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.Start(6)
	ms := membersJSON(t, c.Agent("n6"))
	require.Len(t, ms, 6)
	voters := 0
	for _, m := range ms {
		if m.Voter {
			voters++
		}
	}
	// The joins race, so which member comes sixth varies; the count does not.
	require.Equal(t, 5, voters, "the first five members are voters, the sixth is not")

	// Metrics: Raft's own and the agent's, in Prometheus text.
	leader := c.Agent(leaderOf(ms))
	resp, err := http.Get("http://" + leader.HTTPAddr + "/v1/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	text := string(body)
	require.Contains(t, text, "baton_raft_")
	require.Contains(t, text, `baton_agent_apply_seconds_count{command="member.join"}`, "durations are histograms in seconds")
	require.Contains(t, text, "baton_agent_leader 1")
}
