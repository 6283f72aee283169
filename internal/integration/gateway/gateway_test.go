package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// send sends one request through addr and returns the status and body.
func send(t *testing.T, addr, method, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+"/", strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGatewayForwardsToTheRingSuccessor(t *testing.T) {
	sc := newSvcCluster(t, 3)
	g := sc.gateway(t, "--name", "it-successor")
	// Ring n1 n3 n2: n2's successor is n1 (the last's is the first).
	_, err := sc.client().SetRing(context.Background(), []string{"n1", "n3", "n2"})
	require.NoError(t, err)
	procs.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(g.Log(), `in=n1,n3,n2`) {
			return fmt.Errorf("the gateway does not route by the new ring yet")
		}
		return nil
	})

	sc.svc.Stop("n2")
	for i := range 60 {
		method := http.MethodGet
		if i%2 == 1 {
			method = http.MethodPost
		}
		code, body := send(t, g.Listen, method, fmt.Sprintf("succ-%d", i))
		require.Equal(t, http.StatusOK, code, body)
	}
	m, err := procs.Get("http://" + g.Metrics + "/metrics")
	require.NoError(t, err)
	require.Regexp(t, `baton_gateway_successor_forwards_total\{from="n2",to="n1"\} [1-9]`, m)
	require.NotContains(t, m, `from="n2",to="n3"`)
	require.Regexp(t, regexp.MustCompile(`msg="forward to successor".*from=n2 to=n1 cause=connect`), g.Log())
	require.Greater(t, len(sc.svc.ClientRequests("n1")), len(sc.svc.ClientRequests("n3")), "n1 took n2's share")
	requireNoBodyTwice(t, sc)

	promtool := procs.LookTool(t, "promtool", "prometheus")
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(m)
	out, err := check.CombinedOutput()
	require.NoError(t, err, "promtool check metrics:\n%s", out)
}

func TestRingUpgradeThroughTheGatewayFailsNoRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("a five-node upgrade under load; -short skips it")
	}
	sc := newSvcCluster(t, 5)
	g := sc.gateway(t, "--name", "it-ring")
	procs.Eventually(t, 30*time.Second, func() error {
		gws, _, err := sc.client().Gateways(context.Background(), api.Wait{})
		if err != nil || len(gws) != 1 || gws[0].Name != "it-ring" {
			return fmt.Errorf("gateways %v (%v)", gws, err)
		}
		return nil
	})

	reqs := upgradeUnderLoad(t, sc, "http://"+g.Listen+"/", "2.0.0", nil)
	require.Greater(t, answered(reqs), 200)
	require.Empty(t, failures(reqs), "of %d requests through the gateway", answered(reqs))
	requireOutOfRotationDuringSteps(t, sc, reqs, "n1", "n2", "n3", "n4", "n5")
	requireNoBodyTwice(t, sc)
	require.Regexp(t, `msg=rotation .*out="n[1-5] \(step of t-`, g.Log())
}

func TestGatewayRestartMidUpgradeAndAMemberAddedAfter(t *testing.T) {
	if testing.Short() {
		t.Skip("an upgrade under load with a gateway restart; -short skips it")
	}
	sc := newSvcCluster(t, 3)
	for id := range sc.svc.Nodes {
		sc.svc.SetFile(id, "down-seconds", "1")
	}
	g := sc.gateway(t, "--name", "it-restart")

	var killed, restarted time.Time
	reqs := upgradeUnderLoad(t, sc, "http://"+g.Listen+"/", "2.0.0", func(txn string) {
		// Once the first step is done, the gateway dies (SIGKILL) and a new
		// one starts in its place, with nothing but its flags.
		procs.Eventually(t, 2*time.Minute, func() error {
			cur, _, err := sc.client().Upgrade(context.Background(), txn, api.Wait{})
			if err != nil {
				return err
			}
			for _, s := range cur.Steps {
				if s.State == api.StepDone {
					return nil
				}
			}
			return fmt.Errorf("no step done yet")
		})
		killed = time.Now()
		g.Kill()
		g.Start()
		restarted = time.Now()
	})
	require.Greater(t, answered(reqs), 100)
	// The requests in flight in the killed process die with it, unanswered;
	// every other request is answered 2xx, before and after the restart.
	var failed []string
	for _, r := range reqs {
		inFlightAtKill := r.Status == 0 && r.Start.Before(restarted) && r.End.After(killed)
		if r.Failed() && !inFlightAtKill {
			failed = append(failed, fmt.Sprintf("%s %s at %s: %d %s", r.Method, r.Body, r.Start.Format(time.StampMicro), r.Status, r.Err))
		}
	}
	require.Empty(t, failed, "of %d requests through the gateway (killed %s, restarted %s)",
		answered(reqs), killed.Format(time.StampMicro), restarted.Format(time.StampMicro))
	requireOutOfRotationDuringSteps(t, sc, reqs, "n1", "n2", "n3")
	requireNoBodyTwice(t, sc)

	// A member that joins after the transaction is in the ring and gets
	// requests, with no restart of the gateway.
	sc.svc.Add("n4")
	sc.c.Add("n4").Start("--join", sc.c.Agents[0].HTTPAddr)
	sc.c.WaitMembers(sc.c.Agents[0], 4, 30*time.Second)
	ring, _, err := sc.client().Ring(context.Background(), api.Wait{})
	require.NoError(t, err)
	require.Equal(t, []string{"n1", "n2", "n3", "n4"}, ring.Order)
	procs.Eventually(t, 30*time.Second, func() error {
		code, body := send(t, g.Listen, http.MethodGet, "")
		if code != http.StatusOK {
			return fmt.Errorf("%d %s", code, body)
		}
		if len(sc.svc.ClientRequests("n4")) == 0 {
			return fmt.Errorf("n4 got no request yet")
		}
		return nil
	})
}
