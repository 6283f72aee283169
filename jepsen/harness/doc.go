// Package harness runs the chaos suite's cluster: real baton agent
// processes (3, 5 or 7), each with its own data directory, addresses and
// test hooks appending to a shared journal, on loopback or each inside its
// own network namespace. It kills, restarts, pauses and resumes them with
// real signals, restarts an agent with the build of the version its hooks
// installed when its restart hook asks (so protocol versions really rise),
// restarts agents that died on their own (and records it), keeps a fake
// service whose roles live in files (its primary switched over by Baton
// once the cluster speaks protocol 3), tails every
// agent's event stream into the history, and reads the agents' logs for the
// checkers.
//
// It builds on internal/procs. It never binds anything but loopback or
// the addresses of the suite's own namespaces, and every loop it runs stops
// with its context.
package harness
