// Package bench measures Baton against its limits: the latency of the disk,
// of loopback and of a bare hashicorp/raft cluster; the time Baton's
// coordination adds per step on clusters of real agent processes; leadership
// handoff and crash recovery; a 10,000-member state machine; and the same
// no-op rollout done with Ansible. cmd/batonbench runs it and writes
// docs/benchmarks.md and its JSON twin.
//
// Every figure is a set of samples summarised by its median, p99 and spread;
// nothing here asserts a speed. Every loop is bounded in count and in time,
// and everything it starts binds to loopback and is stopped when its
// measurement ends. It is never run by `go test` without -bench.
package bench
