package checker

import (
	"net/http"
	"testing"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// gatewayTraffic adds to goodRun a gateway registered from the start and
// client requests through it: while n2 drains and upgrades (100..500) they
// go to n1 and n3; after n2's step they reach n2 again.
func gatewayTraffic(b *builder) {
	b.in.GatewayName = "jepsen"
	b.cmd(-200, api.EventGatewayRegister, "", "", 0, func(e *history.Event) { e.Gateway = "jepsen" })
	b.hook(110, "begin", "drain", "n2", "t1", 1)
	b.hook(115, "end", "drain", "n2", "t1", 1)
	b.in.ServiceRequests = map[string][]procs.ServiceRequest{}
	b.request(50, 51, "n2", "g-1", http.MethodGet)    // before the drain
	b.request(200, 201, "n1", "g-2", http.MethodPost) // during n2's step
	b.request(300, 301, "n3", "g-3", http.MethodGet)
	b.request(600, 601, "n2", "g-4", http.MethodPost) // after
}

// request records a request sent through the gateway at sent and received
// by node at got.
func (b *builder) request(sent, got int, node, id, method string) {
	r := procs.LoadRequest{ID: id, Method: method, Start: b.at(sent), End: b.at(got + 1), Status: 200}
	if method == http.MethodPost {
		r.Body = id
	}
	b.in.GatewayRequests = append(b.in.GatewayRequests, r)
	b.in.ServiceRequests[node] = append(b.in.ServiceRequests[node],
		procs.ServiceRequest{At: b.at(got), Method: method, Path: "/" + id, Body: r.Body})
}

func TestGatewayDrain(t *testing.T) {
	t.Run("a request sent after the drain began reaches the node", func(t *testing.T) {
		b := goodRun()
		b.request(250, 251, "n2", "g-5", http.MethodGet)
		v := requireCaught(t, CheckGatewayDrain, b.in, "t1", "n2")
		require.Contains(t, v.What, "g-5")
	})
	t.Run("a request sent before the drain may arrive during it", func(t *testing.T) {
		b := goodRun()
		b.request(105, 130, "n2", "g-5", http.MethodGet)
		require.Equal(t, Pass, CheckGatewayDrain(b.in).Status)
	})
	t.Run("a late confirmation exempts the step", func(t *testing.T) {
		b := goodRun()
		b.request(250, 251, "n2", "g-5", http.MethodGet)
		b.in.Late = []LateAnnouncement{{Txn: "t1", Nodes: []string{"n2"}, At: b.at(104)}}
		r := CheckGatewayDrain(b.in)
		require.Equal(t, Pass, r.Status)
		require.Contains(t, r.Note, "1 drains not checked")
	})
	t.Run("a gateway that was not registered is not waited for", func(t *testing.T) {
		b := goodRun()
		b.request(250, 251, "n2", "g-5", http.MethodGet)
		b.cmd(50, api.EventGatewayExpire, "", "", 0, func(e *history.Event) { e.Gateway = "jepsen" })
		require.Equal(t, Pass, CheckGatewayDrain(b.in).Status)
	})
}

func TestBodyOnce(t *testing.T) {
	b := goodRun()
	require.Equal(t, Pass, CheckBodyOnce(b.in).Status)
	b.in.ServiceRequests["n3"] = append(b.in.ServiceRequests["n3"],
		procs.ServiceRequest{At: b.at(700), Method: http.MethodPost, Path: "/g-2", Body: "g-2"})
	requireCaught(t, CheckBodyOnce, b.in, "", "n1", "n3")
}
