// Package testutil runs real Baton clusters for tests: it builds the baton
// binary once, picks free loopback ports, starts agents as processes, kills
// and restarts them with real signals, and runs CLI commands.
//
// It must only ever bind to loopback addresses, or to the addresses of
// network namespaces its caller created itself (the chaos suite runs agents
// under `ip netns exec` through Agent.Wrap), and every process it starts is
// stopped when the test ends (or, for a cluster made by NewClusterAt, when
// its caller closes it).
package testutil
