// Package jepsen is Baton's chaos suite, in the spirit of Jepsen and of
// etcd's robustness tests: it runs a cluster of real baton agent processes,
// drives upgrade transactions through the API and the CLI from concurrent
// clients while nemeses kill, pause and partition the agents and make their
// hooks fail or hang, records every operation and every committed command,
// and checks Baton's invariants (I1..I11 of ARCHITECTURE.md) and the
// linearizability of its consistent reads over the whole history.
//
// The sub-packages split the work by responsibility: history (what
// happened), netns (network namespaces and packet filtering), harness (the
// cluster of processes), nemesis (faults and their seeded schedule),
// workload (the clients), checker (the invariants), report (result, report
// and summary table). Run ties them together; cmd/batonjepsen is the
// command `make jepsen` runs.
//
// The suite must never send traffic anywhere but loopback or the addresses
// of the network namespaces it created itself, never add packet-filtering
// rules outside those namespaces, and always tear down what it created,
// also when a run fails. Every loop it runs is bounded in time.
package jepsen
