// Package integration holds Baton's end-to-end tests: real baton processes
// on loopback, real Raft with real disk stores, real signals. It has no
// non-test code.
package integration
