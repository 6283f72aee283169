package harness

import (
	"fmt"
	"strconv"
)

// The fake service the suite's hooks keep (procs.Hooks.Service): every node
// has the service-role hooks, n2 starts as the service's primary (n1 with a
// single node), and the replicas report fixed lags, so that the
// switch-over's lag limit has candidates on both sides of it once the
// cluster speaks protocol 3 (docs/switchover.md).

// ServicePrimary is the node the fake service starts with as its primary.
func ServicePrimary(nodes int) string {
	if nodes < 2 {
		return "n1"
	}
	return "n2"
}

// serviceLags are the lags of the replicas n1, n3, n4, ... in turn: in
// sync, within a limit of 10, over it, in sync.
var serviceLags = []uint64{0, 5, 15, 0}

// setUpService gives the hooks the fake service before any agent starts.
func (c *Cluster) setUpService() error {
	c.Hooks.Service = true
	primary := ServicePrimary(len(c.ids))
	if err := c.Hooks.SetRole(primary, "primary"); err != nil {
		return fmt.Errorf("fake service: %w", err)
	}
	i := 0
	for _, id := range c.ids {
		if id == primary {
			continue
		}
		if err := c.Hooks.Set("lag-"+id, strconv.FormatUint(serviceLags[i%len(serviceLags)], 10)+"\n"); err != nil {
			return fmt.Errorf("fake service: %w", err)
		}
		i++
	}
	return nil
}
