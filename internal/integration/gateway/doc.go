// Package gateway holds the integration tests of `baton gateway`: real
// agents, real toy services (cmd/demosvc) and real gateway processes on
// loopback, through ring upgrades whose restarts really stop the service,
// and the same ring and drain driving Debian's HAProxy.
package gateway
