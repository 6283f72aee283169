// Package ring holds the end-to-end tests of the failover ring, the ring
// strategy and the gateway registry (docs/ring.md): real baton processes on
// loopback with real disk stores. It has no non-test code.
package ring
