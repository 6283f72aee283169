package ring

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// The ring is the members in natural id order until an operator sets it;
// set through a follower, it reads back the same from every agent, and
// each member's service address reaches the catalogue.
func TestRingSetAndReadBack(t *testing.T) {
	c, _ := ringCluster(t, 3)
	require.Equal(t, api.Ring{Order: []string{"n1", "n2", "n3"}}, readRing(t, c.Agent("n2")))

	procs.Eventually(t, 20*time.Second, func() error {
		ms, _, err := c.Agent("n3").Client().Members(context.Background(), api.Wait{})
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.ServiceAddr != serviceAddr(m.ID) {
				return fmt.Errorf("%s's service address is %q, want %q", m.ID, m.ServiceAddr, serviceAddr(m.ID))
			}
		}
		return nil
	})
	out := c.Agent("n1").CLI("members")
	require.Equal(t, 0, out.Code, out.Stderr)
	require.Contains(t, out.Stdout, "SERVICE ADDR")
	require.Contains(t, out.Stdout, serviceAddr("n2"))

	// A long-polled read of the ring returns when it changes.
	_, idx, err := c.Agent("n1").Client().Ring(context.Background(), api.Wait{})
	require.NoError(t, err)
	polled := make(chan api.Ring, 1)
	go func() {
		// Other commits (liveness, service addresses) wake it too: poll
		// on until the ring is set.
		for range 100 {
			r, next, err := c.Agent("n1").Client().Ring(context.Background(), api.Wait{Index: idx, Wait: time.Minute})
			if err != nil || r.Explicit {
				polled <- r
				return
			}
			idx = next
		}
	}()

	res := c.Agent("n3").CLI("ring", "set", "n3,n1,n2")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stdout, "n3 -> n1 -> n2 -> n3")
	want := api.Ring{Order: []string{"n3", "n1", "n2"}, Explicit: true}
	for _, a := range c.Agents {
		procs.Eventually(t, 10*time.Second, func() error {
			if got := readRing(t, a); fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("%s reads %v", a.ID, got)
			}
			return nil
		})
	}
	select {
	case r := <-polled:
		require.Equal(t, want, r, "the long poll returns the new ring")
	case <-time.After(2 * time.Minute):
		t.Fatal("the long-polled read of the ring never returned")
	}
	js := c.Agent("n2").CLI("ring", "--json")
	require.Equal(t, 0, js.Code, js.Stderr)
	require.JSONEq(t, `{"order":["n3","n1","n2"],"explicit":true}`, js.Stdout)
}

// A ring that is not every member exactly once is refused with the ids at
// fault, and the ring stays as it was.
func TestBadRingIsRefusedAndChangesNothing(t *testing.T) {
	c, _ := ringCluster(t, 3)
	a := c.Agent("n2")
	_, err := call(t, func(ctx context.Context) (api.Ring, error) {
		return a.Client().SetRing(ctx, []string{"n2", "n1", "n3"})
	})
	require.NoError(t, err)
	before := readRing(t, a)

	for _, tc := range []struct {
		order []string
		want  string
		is    error
	}{
		{[]string{"n1", "n2"}, "leaves out n3", api.ErrInvalid},
		{[]string{"n1", "n2", "n3", "n2"}, "lists n2 more than once", api.ErrInvalid},
		{[]string{"n1", "n2", "n3", "n9"}, "n9, which is not a member", api.ErrNotFound},
		{[]string{"n1", "bad id", "n3"}, `member id "bad id"`, api.ErrInvalid},
		{nil, "empty ring", api.ErrInvalid},
	} {
		_, err := call(t, func(ctx context.Context) (api.Ring, error) { return a.Client().SetRing(ctx, tc.order) })
		require.ErrorIs(t, err, tc.is, "%v", tc.order)
		require.ErrorContains(t, err, tc.want)
		require.Equal(t, before, readRing(t, a), "a refused ring changes nothing")
	}
	res := a.CLI("ring", "set", "n1,,n2")
	require.Equal(t, 2, res.Code, "an empty id is a usage error")
}

// A gateway registers, reports what it has seen, is listed by every agent
// with the leader's memory of its report, and leaves.
func TestGatewayRegistry(t *testing.T) {
	c, _ := ringCluster(t, 3)
	cl := c.Agent("n3").Client()
	ctx := context.Background()
	gw, err := cl.RegisterGateway(ctx, "gw1")
	require.NoError(t, err)
	require.Equal(t, "gw1", gw.Name)
	again, err := cl.RegisterGateway(ctx, "gw1")
	require.NoError(t, err)
	require.Equal(t, gw.RegisteredAt, again.RegisteredAt, "registration is idempotent")

	_, idx, err := cl.Ring(ctx, api.Wait{})
	require.NoError(t, err)
	require.NoError(t, cl.GatewaySeen(ctx, "gw1", idx))
	for _, a := range c.Agents {
		list, _, err := a.Client().Gateways(ctx, api.Wait{})
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, "gw1", list[0].Name)
		require.Equal(t, idx, list[0].SeenIndex)
		require.False(t, list[0].LastSeen.IsZero())
	}
	require.ErrorIs(t, cl.GatewaySeen(ctx, "nobody", 1), api.ErrNotFound)
	_, err = cl.RegisterGateway(ctx, "Bad Name")
	require.ErrorIs(t, err, api.ErrInvalid)

	require.NoError(t, cl.DeregisterGateway(ctx, "gw1"))
	list, _, err := cl.Gateways(ctx, api.Wait{})
	require.NoError(t, err)
	require.Empty(t, list)
	require.ErrorIs(t, cl.GatewaySeen(ctx, "gw1", idx), api.ErrNotFound, "a gateway that left re-registers")
	require.ErrorIs(t, cl.DeregisterGateway(ctx, "gw1"), api.ErrNotFound)
}
