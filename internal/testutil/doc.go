// Package testutil runs real Baton clusters for tests: it builds the baton
// binary once, picks free loopback ports, starts agents as processes, kills
// and restarts them with real signals, and runs CLI commands.
//
// It must only ever bind to loopback addresses, and every process it starts
// is stopped when the test ends.
package testutil
