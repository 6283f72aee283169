package gateway

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// batonBin and demosvcBin are built once for the package's tests.
var batonBin, demosvcBin string

func TestMain(m *testing.M) {
	procs.RunTests(m, "baton-gateway-it-", func(dir string) (err error) {
		batonBin, err = procs.Build(dir, procs.BuildOptions{Version: "1.0.0", ProtocolMin: fsm.LatestProtocol - 1, ProtocolMax: fsm.LatestProtocol})
		if err == nil {
			demosvcBin, err = procs.BuildDemosvc(dir)
		}
		return err
	})
}

// svcCluster is n real agents, each beside a real demosvc whose address
// is its service_addr.
type svcCluster struct {
	c   *procs.Cluster
	svc *procs.Services
}

func newSvcCluster(t *testing.T, n int) *svcCluster {
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	svc := procs.NewServices(t, c.Root, demosvcBin)
	c.ConfigFor = svc.ConfigFor
	for i := 1; i <= n; i++ {
		svc.Add(fmt.Sprintf("n%d", i))
	}
	c.Start(n)
	return &svcCluster{c: c, svc: svc}
}

func (sc *svcCluster) agents() []string {
	var out []string
	for _, a := range sc.c.Agents {
		out = append(out, a.HTTPAddr)
	}
	return out
}

func (sc *svcCluster) client() *api.Client { return sc.c.Agents[0].Client() }

func (sc *svcCluster) gateway(t *testing.T, extra ...string) *procs.Gateway {
	return procs.StartGateway(t, batonBin, sc.c.Root, sc.agents(), extra...)
}

// failures are the requests of a load that left the client and got no 2xx
// answer.
func failures(reqs []procs.LoadRequest) []string {
	var out []string
	for _, r := range reqs {
		if r.Failed() {
			out = append(out, fmt.Sprintf("%s %s: %d %s", r.Method, r.Body, r.Status, r.Err))
		}
	}
	return out
}

// answered counts the requests of a load that left the client.
func answered(reqs []procs.LoadRequest) int {
	n := 0
	for _, r := range reqs {
		if !r.Refused {
			n++
		}
	}
	return n
}

// requireNoBodyTwice checks that no POST body reached the services twice.
func requireNoBodyTwice(t *testing.T, sc *svcCluster) {
	seen := map[string]string{}
	for id := range sc.svc.Nodes {
		for _, r := range sc.svc.ClientRequests(id) {
			if r.Method != http.MethodPost {
				continue
			}
			prev, dup := seen[r.Body]
			require.False(t, dup, "POST body %q reached %s and %s", r.Body, prev, id)
			seen[r.Body] = id
		}
	}
}

// requireOutOfRotationDuringSteps checks, for each node that was
// upgraded, that no request the load sent after the node's drain hook
// began reached its service before its health check passed, and that
// requests reached it again after. A request is known by the id in its
// path; one sent after the drain began was routed after the gateway had
// reported the drain announcement. (One sent just before may arrive just
// after: that is what the drain waits for.)
func requireOutOfRotationDuringSteps(t *testing.T, sc *svcCluster, reqs []procs.LoadRequest, ids ...string) {
	requireOutOfRotationFrom(t, sc, reqs, "drain", ids...)
}

// requireOutOfRotationFrom is requireOutOfRotationDuringSteps with the
// window opening at the hook event from ("drain", or "drained" when the
// drain hook itself takes the node out of rotation).
func requireOutOfRotationFrom(t *testing.T, sc *svcCluster, reqs []procs.LoadRequest, from string, ids ...string) {
	sent := map[string]procs.LoadRequest{}
	for _, r := range reqs {
		sent[r.ID] = r
	}
	for _, id := range ids {
		ev := sc.svc.Events(id)
		require.NotEmpty(t, ev[from], "%s was not drained", id)
		// The step's health check is the first after the drain (the
		// health hook also runs as a probe outside steps).
		drain := ev[from][0]
		var healthy time.Time
		for _, h := range ev["healthy"] {
			if h.After(drain) {
				healthy = h
				break
			}
		}
		require.False(t, healthy.IsZero(), "%s passed no health check after its drain", id)
		after := 0
		for _, r := range sc.svc.ClientRequests(id) {
			req, ok := sent[path.Base(r.Path)]
			require.False(t, ok && req.Start.After(drain) && r.At.Before(healthy),
				"%s %s, sent at %s, reached %s at %s, during its step (%s %s, healthy %s)",
				req.Method, req.ID, req.Start.Format(time.StampMicro), id, r.At.Format(time.StampMicro),
				from, drain.Format(time.StampMicro), healthy.Format(time.StampMicro))
			if r.At.After(healthy) {
				after++
			}
		}
		require.Positive(t, after, "%s got no request after its step: it did not return to rotation", id)
	}
}

// waitUpgrade waits until transaction id is terminal and returns it.
func waitUpgrade(t *testing.T, c *api.Client, id string) api.Txn {
	var txn api.Txn
	procs.Eventually(t, 3*time.Minute, func() error {
		var err error
		txn, _, err = c.Upgrade(context.Background(), id, api.Wait{})
		if err != nil {
			return err
		}
		if !txn.State.Terminal() {
			return fmt.Errorf("transaction %s is %s", id, txn.State)
		}
		return nil
	})
	return txn
}

// upgradeUnderLoad runs a ring upgrade to version while a load goes
// through url, and returns the load's requests; the load goes on for 1.5 s
// after the transaction is done, so the last node is seen back in
// rotation.
func upgradeUnderLoad(t *testing.T, sc *svcCluster, url, version string, during func(txn string)) []procs.LoadRequest {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	load := procs.StartLoad(ctx, procs.LoadOptions{URL: url, Rate: 200, Workers: 8, Max: 40000, Tag: "v" + version})
	time.Sleep(300 * time.Millisecond)
	txn, err := sc.client().StartUpgrade(context.Background(), api.StartRequest{TargetVersion: version, Strategy: "ring"})
	require.NoError(t, err)
	if during != nil {
		during(txn.ID)
	}
	done := waitUpgrade(t, sc.client(), txn.ID)
	require.Equal(t, api.TxnDone, done.State, done.Reason)
	time.Sleep(1500 * time.Millisecond)
	cancel()
	return load.Wait()
}
