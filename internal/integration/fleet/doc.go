// Package fleet holds the integration tests of client agents
// (docs/clients.md): real `baton agent` server processes and real
// `baton agent --client` processes over loopback, with real disk stores
// and the test hooks of jepsen/procs.
package fleet
